//! The backend trait: "a cluster that runs apps and their tasks". setup-service and
//! check-replication speak only this, so a backend for Marathon or Docker Swarm plugs in
//! without touching their logic.
//!
//! An app is one version of one instance (its id carries the git sha and config hash); its tasks
//! are the copies that run. A backend answers what runs (`apps`, every app of the cluster in one
//! look, so that a run over every instance costs the same few calls as a run over one), and
//! acts: `reconcile` keeps an app at a task count (launching what is missing, replacing
//! crashed tasks after the relaunch backoff and unhealthy ones, as Marathon does for an app),
//! `kill_task` ends one task for good, `delete_app` removes an app and whatever is left of it.
//!
//! Scheduled jobs run as job runs: one process per run, remembered with its job, due time,
//! attempt and kind, and its result (exit code, times, output tail) while it is kept. Records of
//! runs that did not happen (missed, skipped, a hold) are remembered the same way, so the
//! cluster alone holds the jobs' history (soa::jobs decides from it).

use container::health::{Policy, Probe};
use container::ContainerSpec;
use serde::{Deserialize, Serialize};
pub use soa::jobs::{Outcome, Run, RunKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Created, not started yet (a launch cut short).
    Staged,
    Running,
    /// Ended on its own or was stopped for failing its health check.
    Exited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Passed its last health check.
    Healthy,
    /// Failed as many consecutive checks as the policy allows, after the grace period.
    Unhealthy,
    /// Not passed yet (in the grace period, or failing fewer times than allowed).
    Starting,
    /// The instance has no health check.
    Unchecked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub name: String,
    /// Where the task is reached (drain endpoints and health checks use it).
    pub host: String,
    pub port: Option<u16>,
    pub state: TaskState,
    pub health: Health,
    /// Unix seconds the task was launched.
    pub started_at: i64,
    /// How many crashed predecessors this task replaces in a row (the relaunch backoff's
    /// exponent).
    pub restarts: u32,
}

impl Task {
    pub fn is_live(&self) -> bool {
        self.state != TaskState::Exited
    }

    /// Running and passing its health check (or having none): it serves.
    pub fn is_happy(&self) -> bool {
        self.state == TaskState::Running
            && matches!(self.health, Health::Healthy | Health::Unchecked)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub id: String,
    pub service: String,
    pub instance: String,
    pub git_sha: String,
    pub config_hash: String,
    pub tasks: Vec<Task>,
}

impl App {
    pub fn happy(&self) -> usize {
        self.tasks.iter().filter(|t| t.is_happy()).count()
    }
}

/// Relaunch delays after crashes: `seconds × factor^n`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub seconds: f64,
    pub factor: f64,
    pub max: f64,
}

impl Backoff {
    pub fn delay(&self, restarts: u32) -> f64 {
        (self.seconds * self.factor.powi(restarts.min(64) as i32)).min(self.max)
    }
}

/// What to run: the app as the Marathon API would receive it and as a container, with its
/// health check and relaunch backoff.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub id: String,
    pub service: String,
    pub instance: String,
    pub cluster: String,
    pub git_sha: String,
    pub config_hash: String,
    /// PaaSTA's Marathon app definition (soa::marathon::app), id included.
    pub definition: serde_json::Value,
    /// The task container; its name is a prefix the backend completes per task.
    pub container: ContainerSpec,
    pub health: Option<(Probe, Policy)>,
    pub backoff: Backoff,
}

/// What a backend did, or would do under --dry-run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Launch {
        app: String,
        task: Option<String>,
    },
    /// A crashed task's replacement, launched once the backoff has passed.
    Relaunch {
        app: String,
        crashed: String,
        task: Option<String>,
        restarts: u32,
    },
    /// A crashed task waits for its relaunch delay.
    Backoff {
        app: String,
        crashed: String,
        relaunch_in_s: u64,
    },
    /// An unhealthy task is stopped; it is relaunched as a crashed one.
    StopUnhealthy {
        app: String,
        task: String,
    },
    /// A launch cut short (created, never started) is started.
    Start {
        app: String,
        task: String,
    },
    /// A crashed task that is no longer needed is cleared away.
    Clear {
        app: String,
        task: String,
    },
    Drain {
        app: String,
        task: String,
    },
    Kill {
        app: String,
        task: String,
    },
    /// A draining task is kept until its drain method says it is safe to kill.
    WaitDrain {
        app: String,
        task: String,
        reason: String,
    },
    DeleteApp {
        app: String,
    },
    /// A job run is started.
    StartRun {
        job: String,
        due: String,
        attempt: u32,
        kind: RunKind,
        command: String,
        run: Option<String>,
    },
    /// A run cut short before it started is started.
    StartStaged {
        job: String,
        run: String,
    },
    /// Occurrences that did not run, recorded.
    Record {
        job: String,
        due: String,
        #[serde(flatten)]
        outcome: Outcome,
    },
    /// A run's result past keeping, removed.
    ExpireRun {
        job: String,
        run: String,
    },
    /// A hold of an older version, lifted by a new deploy.
    ReleaseHold {
        job: String,
    },
}

/// A job run to launch (or a record to write).
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub service: String,
    pub instance: String,
    pub cluster: String,
    /// `<service> <instance>`, or a rerun's temporary name.
    pub job: String,
    pub kind: RunKind,
    pub due: i64,
    pub attempt: u32,
    /// Unix milliseconds on the launcher's clock (setup-service's --now).
    pub started_ms: i64,
    pub git_sha: String,
    /// The run's container; its name is a prefix the backend completes.
    pub container: ContainerSpec,
}

/// A run's result as far as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetail {
    pub exit_code: Option<i64>,
    /// Real time (RFC 3339) the process started and ended.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Seconds it ran (so far, when still running).
    pub duration_s: Option<f64>,
    /// The last lines of its output.
    pub output_tail: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{backend} backend: {message}")]
pub struct BackendError {
    pub backend: &'static str,
    pub message: String,
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;

/// A cluster that runs apps and their tasks. Async because every real one is a remote API;
/// callers run one current-thread runtime, so no Send bounds are asked for.
#[allow(async_fn_in_trait)]
pub trait Backend {
    fn name(&self) -> &'static str;

    /// Every app of the cluster with its tasks, sorted by id.
    async fn apps(&self) -> Result<Vec<App>>;

    /// Keeps `app` (None: not created yet) at `count` tasks: starts staged ones, launches the
    /// missing, stops unhealthy ones and relaunches crashed ones once their backoff has passed.
    /// Never kills a healthy task: scaling down is drain-then-kill, the caller's. With
    /// `dry_run`, says what it would do and does nothing.
    async fn reconcile(
        &self,
        spec: &AppSpec,
        app: Option<&App>,
        count: usize,
        now: f64,
        dry_run: bool,
    ) -> Result<Vec<Action>>;

    /// Ends one task for good (stop, then remove); no relaunch follows.
    async fn kill_task(&self, app: &App, task: &Task) -> Result<()>;

    /// Removes the app and any task left of it.
    async fn delete_app(&self, app: &App) -> Result<()>;

    /// Every job run and record of the cluster.
    async fn runs(&self) -> Result<Vec<Run>>;

    /// Starts a run; with `record` set, remembers that occurrence as not run instead.
    async fn launch_run(&self, spec: &RunSpec, record: Option<Outcome>) -> Result<Run>;

    /// Starts a run that was created but never started.
    async fn start_run(&self, run: &Run) -> Result<()>;

    /// Stops a run in flight; its result (killed) is kept.
    async fn kill_run(&self, run: &Run) -> Result<()>;

    /// Forgets a run or record.
    async fn remove_run(&self, run: &Run) -> Result<()>;

    /// Waits until the run ends; its exit code.
    async fn wait_run(&self, run: &Run) -> Result<i64>;

    /// The run's result, with the last `tail` lines of its output.
    async fn run_detail(&self, run: &Run, tail: usize) -> Result<RunDetail>;
}
