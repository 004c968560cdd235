//! The snapshot backend: a cluster's state read from a JSON file (a list of apps with their
//! tasks, as `Backend::apps` returns them, or `{"apps": [...], "runs": [...]}` with the job
//! runs as `Backend::runs` returns them), read-only. It lets check-replication and
//! `setup-service --dry-run` answer for a saved state, and measures them without a cluster.

use crate::backend::{
    Action, App, AppSpec, Backend, BackendError, Outcome, Result, Run, RunDetail, RunSpec, Task,
};
use std::path::{Path, PathBuf};

pub struct Snapshot {
    path: PathBuf,
    apps: Vec<App>,
    runs: Vec<Run>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum State {
    Apps(Vec<App>),
    Full(Full),
}

/// Unknown keys are refused, so that a file of something else is not read as an empty cluster.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Full {
    #[serde(default)]
    apps: Vec<App>,
    #[serde(default)]
    runs: Vec<Run>,
}

fn err(message: String) -> BackendError {
    BackendError {
        backend: "snapshot",
        message,
    }
}

impl Snapshot {
    pub fn load(path: &Path) -> Result<Snapshot> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("reading {}: {e}", path.display())))?;
        let state: State = serde_json::from_str(&text).map_err(|e| {
            err(format!(
                "{}: {e}; expected a JSON list of apps {{id, service, instance, git_sha, config_hash, tasks: [...]}}, or {{\"apps\": [...], \"runs\": [...]}}",
                path.display()
            ))
        })?;
        let (mut apps, runs) = match state {
            State::Apps(a) => (a, Vec::new()),
            State::Full(Full { apps, runs }) => (apps, runs),
        };
        apps.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Snapshot {
            path: path.to_path_buf(),
            apps,
            runs,
        })
    }

    fn read_only(&self) -> BackendError {
        err(format!(
            "{} is a saved state and cannot be changed; use --dry-run",
            self.path.display()
        ))
    }
}

impl Backend for Snapshot {
    fn name(&self) -> &'static str {
        "snapshot"
    }

    async fn apps(&self) -> Result<Vec<App>> {
        Ok(self.apps.clone())
    }

    async fn reconcile(
        &self,
        spec: &AppSpec,
        app: Option<&App>,
        count: usize,
        _now: f64,
        dry_run: bool,
    ) -> Result<Vec<Action>> {
        if !dry_run {
            return Err(self.read_only());
        }
        let live = app.map_or(0, |a| a.tasks.iter().filter(|t| t.is_live()).count());
        Ok((live..count)
            .map(|_| Action::Launch {
                app: spec.id.clone(),
                task: None,
            })
            .collect())
    }

    async fn kill_task(&self, _app: &App, _task: &Task) -> Result<()> {
        Err(self.read_only())
    }

    async fn delete_app(&self, _app: &App) -> Result<()> {
        Err(self.read_only())
    }

    async fn runs(&self) -> Result<Vec<Run>> {
        Ok(self.runs.clone())
    }

    async fn launch_run(&self, _spec: &RunSpec, _record: Option<Outcome>) -> Result<Run> {
        Err(self.read_only())
    }

    async fn start_run(&self, _run: &Run) -> Result<()> {
        Err(self.read_only())
    }

    async fn kill_run(&self, _run: &Run) -> Result<()> {
        Err(self.read_only())
    }

    async fn remove_run(&self, _run: &Run) -> Result<()> {
        Err(self.read_only())
    }

    async fn wait_run(&self, _run: &Run) -> Result<i64> {
        Err(self.read_only())
    }

    async fn run_detail(&self, run: &Run, _tail: usize) -> Result<RunDetail> {
        // A saved state holds what the outcome says and nothing more.
        Ok(RunDetail {
            exit_code: match run.outcome {
                Outcome::Succeeded => Some(0),
                Outcome::Failed { exit_code } => Some(exit_code),
                _ => None,
            },
            started_at: None,
            finished_at: None,
            duration_s: None,
            output_tail: Vec::new(),
        })
    }
}
