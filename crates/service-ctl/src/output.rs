//! What service-ctl prints: one JSON line per call, one record type per kind of command (the
//! shapes the man page's OUTPUT section lists).

use cluster::{Action, Health, Outcome, RunDetail, RunKind, TaskState};
use serde::Serialize;
use soa::jobs::JobState;

/// start, stop, restart: the control tag pushed (or, with --dry-run, that would be).
#[derive(Debug, Serialize)]
pub struct Control {
    pub action: &'static str,
    pub service: String,
    pub instance: String,
    pub cluster: String,
    pub tag: String,
    pub git_sha: String,
    pub desired_state: &'static str,
    pub force_bounce: String,
    pub pushed: bool,
    /// What happens next, and when.
    pub next: String,
}

/// emergency-start, emergency-stop: what was done on the cluster.
#[derive(Debug, Serialize)]
pub struct Emergency {
    pub action: &'static str,
    pub service: String,
    pub instance: String,
    pub cluster: String,
    pub dry_run: bool,
    pub actions: Vec<Action>,
}

/// status: the instance as configs, deployments.json and the cluster see it.
#[derive(Debug, Serialize)]
pub struct Status {
    pub service: String,
    pub instance: String,
    pub cluster: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// None (null) when the instance has no deployment.
    pub git_sha: Option<String>,
    pub desired_state: Option<&'static str>,
    pub force_bounce: Option<String>,
    #[serde(flatten)]
    pub of: StatusOf,
    /// Why part of the status could not be computed (the rest is still shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StatusOf {
    Job(JobStatus),
    App(AppStatus),
}

#[derive(Debug, Serialize)]
pub struct JobStatus {
    pub schedule: Option<String>,
    pub parents: Option<Vec<String>>,
    pub disabled: bool,
    /// None (null) when the job has no deployment or its config does not make a job.
    pub state: Option<JobState>,
    pub next_due: Option<String>,
    /// The latest runs and the latest reruns, newest first.
    pub runs: Vec<RunStatus>,
    pub reruns: Vec<RunStatus>,
    /// On Chronos (which schedules the job itself, so state, next_due and runs are not ours):
    /// the job as Chronos has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chronos: Option<Box<ChronosStatus>>,
}

#[derive(Debug, Serialize)]
pub struct ChronosStatus {
    /// None (null) when Chronos has no such job (setup-service has not sent it).
    pub job: Option<ChronosJob>,
    /// Whether its description is the config hash the configs make now; None when either is
    /// missing.
    pub current: Option<bool>,
    /// The temporary jobs of its reruns, newest first.
    pub reruns: Vec<ChronosJob>,
}

#[derive(Debug, Serialize)]
pub struct ChronosJob {
    pub name: String,
    pub description: Option<String>,
    pub disabled: bool,
    pub schedule: Option<String>,
    pub parents: Option<Vec<String>>,
    /// success, failure or fresh, from the graph CSV.
    pub last_status: String,
    /// idle, running or queued.
    pub state: String,
}

#[derive(Debug, Serialize)]
pub struct RunStatus {
    pub job: String,
    pub run: String,
    pub kind: RunKind,
    pub due: String,
    pub attempt: u32,
    pub git_sha: String,
    /// `result` and its fields.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Absent for a record (nothing ran).
    #[serde(flatten)]
    pub detail: Option<RunDetail>,
}

#[derive(Debug, Serialize)]
pub struct AppStatus {
    /// The app the configs make now; None (null) without a deployment.
    pub app_id: Option<String>,
    pub desired: Option<usize>,
    pub tasks: Vec<TaskStatus>,
}

#[derive(Debug, Serialize)]
pub struct TaskStatus {
    pub app: String,
    pub name: String,
    pub state: TaskState,
    pub health: Health,
    pub host: String,
    pub port: Option<u16>,
    pub started_at: i64,
}
