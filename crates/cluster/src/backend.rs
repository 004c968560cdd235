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
    /// No node may take another task of the app now (its constraints leave none); the task is
    /// launched by a later pass once one may.
    Unplaced {
        app: String,
        reason: String,
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
    /// A Chronos job created or replaced (its description is the config hash).
    PutJob {
        job: String,
        endpoint: String,
        description: String,
    },
    /// A Chronos job removed.
    DeleteJob {
        job: String,
    },
    /// A Chronos job run now.
    RunJob {
        job: String,
    },
    /// A Chronos job's tasks in flight killed.
    KillJob {
        job: String,
    },
    /// A Chronos job disabled (its description kept, so setup-service leaves it so until the
    /// job's config or deploy changes).
    DisableJob {
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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

/// A task that ran at least this long before it ended starts the backoff count afresh.
pub const BACKOFF_RESET_S: f64 = 60.0;

/// One step of keeping an app at its task count (`keep` decides them; a backend carries them
/// out in order).
#[derive(Debug, Clone, PartialEq)]
pub enum Step<'a> {
    /// A launch cut short is started.
    Start(&'a Task),
    /// An unhealthy task is stopped; it is then one of the crashed.
    StopUnhealthy(&'a Task),
    /// A crashed task no longer needed is cleared away.
    Clear(&'a Task),
    /// A crashed task waits for its relaunch delay.
    Backoff(&'a Task, u64),
    /// A crashed task is replaced; the replacement has this many crashed predecessors.
    Relaunch(&'a Task, u32),
    /// A new task.
    Launch,
}

/// When an ended task started and ended (unix seconds).
pub type Lifetime = (f64, f64);

/// The steps that keep `tasks` at `count` at time `now`: staged tasks are started, unhealthy
/// ones stopped, crashed ones (and the unhealthy) relaunched `backoff.delay(n)` after they
/// ended, the soonest due first, or cleared when no longer needed, and whatever is still
/// missing launched. `lifetime` answers for the ended tasks. Healthy tasks are never touched.
pub fn keep<'a>(
    tasks: &'a [Task],
    lifetime: impl Fn(&Task) -> Lifetime,
    count: usize,
    now: f64,
    backoff: Backoff,
) -> Vec<Step<'a>> {
    let mut steps = Vec::new();
    let mut live = 0;
    // (task, when it ended, how long it ran)
    let mut crashed: Vec<(&Task, f64, f64)> = Vec::new();
    for t in tasks {
        match (t.state, t.health) {
            (TaskState::Staged, _) => {
                steps.push(Step::Start(t));
                live += 1;
            }
            (TaskState::Running, Health::Unhealthy) => {
                steps.push(Step::StopUnhealthy(t));
                crashed.push((t, now, now - t.started_at as f64));
            }
            (TaskState::Running, _) => live += 1,
            (TaskState::Exited, _) => {
                let (started, finished) = lifetime(t);
                crashed.push((t, finished, finished - started));
            }
        }
    }
    let restarts_of = |t: &Task, ran: f64| {
        if ran >= BACKOFF_RESET_S {
            0
        } else {
            t.restarts
        }
    };
    let due = |(t, end, ran): &(&Task, f64, f64)| end + backoff.delay(restarts_of(t, *ran));
    crashed.sort_by(|a, b| due(a).total_cmp(&due(b)));
    let mut need = count.saturating_sub(live);
    for c in &crashed {
        let t = c.0;
        if need == 0 {
            steps.push(Step::Clear(t));
            continue;
        }
        need -= 1;
        let due = due(c);
        if now < due {
            steps.push(Step::Backoff(t, (due - now).ceil() as u64));
        } else {
            steps.push(Step::Relaunch(t, restarts_of(t, c.2) + 1));
        }
    }
    steps.extend((0..need).map(|_| Step::Launch));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, state: TaskState, health: Health, started_at: i64, restarts: u32) -> Task {
        Task {
            id: name.into(),
            name: name.into(),
            host: "h".into(),
            port: None,
            state,
            health,
            started_at,
            restarts,
        }
    }

    const BACKOFF: Backoff = Backoff {
        seconds: 2.0,
        factor: 2.0,
        max: 30.0,
    };

    #[test]
    fn keeps_the_count_relaunching_crashed_tasks_after_their_backoff() {
        use Health::*;
        use TaskState::*;
        let tasks = [
            task("ok", Running, Healthy, 0, 0),
            task("staged", Staged, Unchecked, 0, 0),
            task("sick", Running, Unhealthy, 90, 0),
            // Ran 10 s and ended at 100 with 2 crashes before it: due at 100 + 2×2² = 108.
            task("crash2", Exited, Unchecked, 90, 2),
            // Ran 100 s: the count starts afresh, due at 100 + 2.
            task("long", Exited, Unchecked, 0, 5),
        ];
        let lifetime = |t: &Task| (t.started_at as f64, 100.0);
        let names = |steps: Vec<Step<'_>>| -> Vec<String> {
            steps
                .iter()
                .map(|s| match s {
                    Step::Start(t) => format!("start {}", t.name),
                    Step::StopUnhealthy(t) => format!("stop {}", t.name),
                    Step::Clear(t) => format!("clear {}", t.name),
                    Step::Backoff(t, s) => format!("wait {} {s}", t.name),
                    Step::Relaunch(t, n) => format!("relaunch {} {n}", t.name),
                    Step::Launch => "launch".into(),
                })
                .collect()
        };
        // At 105: the sick one (ended now, ran 15 s, due 107) and crash2 (due 108) wait; the
        // long-running one (due 102) is relaunched with a count of 1.
        assert_eq!(
            names(keep(&tasks, lifetime, 6, 105.0, BACKOFF)),
            [
                "start staged",
                "stop sick",
                "relaunch long 1",
                "wait sick 2",
                "wait crash2 3",
                "launch"
            ]
        );
        // Enough live tasks: every crashed one is cleared, nothing launched.
        assert_eq!(
            names(keep(&tasks, lifetime, 2, 200.0, BACKOFF)),
            [
                "start staged",
                "stop sick",
                "clear long",
                "clear crash2",
                "clear sick"
            ]
        );
        // The delay never passes max.
        let stuck = [task("x", Exited, Unchecked, 99, 30)];
        assert_eq!(
            names(keep(&stuck, lifetime, 1, 101.0, BACKOFF)),
            ["wait x 29"]
        );
    }
}
