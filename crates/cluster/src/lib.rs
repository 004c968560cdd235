//! What a cluster runs and how it is moved safely: the backend trait (a cluster that runs apps
//! and their tasks) with its docker and snapshot implementations, the bounce methods (pure
//! decisions), the drain methods (noop, test, hacheck, http) that take a task out of its load
//! balancer before it is killed, instance locks and Sensu delivery. setup-service,
//! check-replication and the `drain` binary share them.
//!
//! Talks to: the Docker engine (docker backend), drain endpoints over HTTP (hacheck's spool API,
//! or the URLs of the http method) and the Sensu client socket, each with short time limits.

pub mod backend;
pub mod bounce;
pub mod chronos;
pub mod docker;
pub mod drain;
pub mod lock;
pub mod marathon;
pub mod placement;
pub mod rest;
pub mod sensu;
pub mod snapshot;
pub mod spec;
pub mod swarm;

pub use backend::{
    Action, App, AppSpec, Backend, BackendError, Backoff, Health, Outcome, Run, RunDetail, RunKind,
    RunSpec, Task, TaskState,
};

/// The instances of `kinds` in `cluster` (soa::select) and the cluster's apps, read side by
/// side: the configs on rayon's workers while a plain thread waits for the backend (a worker
/// blocked on the network would leave the configs a core short).
pub fn select_with_apps(
    soa_dir: &std::path::Path,
    cluster: &str,
    kinds: &[soa::InstanceType],
    names: &[String],
    backend: &str,
    engine_timeout: std::time::Duration,
) -> (soa::select::Selection, Result<Vec<App>, BackendError>) {
    std::thread::scope(|scope| {
        let apps = scope.spawn(|| -> Result<Vec<App>, BackendError> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| BackendError {
                    backend: "runtime",
                    message: e.to_string(),
                })?;
            rt.block_on(async { open(backend, cluster, engine_timeout).await?.apps().await })
        });
        let selection = soa::select::select(soa_dir, cluster, kinds, names);
        (selection, apps.join().expect("the cluster reader panicked"))
    })
}

/// The backends a binary can be pointed at with `--backend`.
pub enum AnyBackend {
    Docker(docker::Docker),
    Swarm(swarm::Swarm),
    Marathon(marathon::Marathon),
    Snapshot(snapshot::Snapshot),
}

/// Opens `--backend`'s choice for `cluster`: `docker` (this host's engine), `swarm` (the Docker
/// Swarm whose manager DOCKER_HOST names), `marathon:URL[,URL…]` (long-running instances on
/// Marathon) or `snapshot:FILE` (a saved state, read-only).
pub async fn open(
    choice: &str,
    cluster: &str,
    engine_timeout: std::time::Duration,
) -> Result<AnyBackend, BackendError> {
    match choice.split_once(':') {
        None if choice == "docker" => Ok(AnyBackend::Docker(
            docker::Docker::connect(cluster, engine_timeout).await?,
        )),
        None if choice == "swarm" => Ok(AnyBackend::Swarm(
            swarm::Swarm::connect(cluster, engine_timeout).await?,
        )),
        Some(("snapshot", path)) => Ok(AnyBackend::Snapshot(snapshot::Snapshot::load(
            std::path::Path::new(path),
        )?)),
        _ if choice == "marathon" || choice.starts_with("marathon:") => Ok(AnyBackend::Marathon(
            marathon::Marathon::connect(choice, engine_timeout).await?,
        )),
        _ if chronos::chosen(choice) => Err(BackendError {
            backend: "chronos",
            message: format!(
                "--backend {choice}: Chronos runs scheduled jobs only (setup-service, service-ctl and rerun take it); long-running instances are Marathon's: --backend marathon:URL"
            ),
        }),
        _ => Err(BackendError {
            backend: "unknown",
            message: format!(
                "--backend {choice:?}: expected docker, swarm, marathon[:URL[,URL…]], chronos[:URL[,URL…]] or snapshot:FILE"
            ),
        }),
    }
}

impl AnyBackend {
    /// Calls made to the cluster's API so far, where the backend counts them.
    pub fn api_calls(&self) -> Option<usize> {
        match self {
            AnyBackend::Docker(d) => Some(d.api_calls()),
            AnyBackend::Swarm(s) => Some(s.api_calls()),
            AnyBackend::Marathon(m) => Some(m.api_calls()),
            AnyBackend::Snapshot(_) => None,
        }
    }

    pub fn read_only(&self) -> bool {
        matches!(self, AnyBackend::Snapshot(_))
    }
}

impl Backend for AnyBackend {
    fn name(&self) -> &'static str {
        match self {
            AnyBackend::Docker(b) => b.name(),
            AnyBackend::Swarm(b) => b.name(),
            AnyBackend::Marathon(b) => b.name(),
            AnyBackend::Snapshot(b) => b.name(),
        }
    }

    async fn apps(&self) -> backend::Result<Vec<App>> {
        match self {
            AnyBackend::Docker(b) => b.apps().await,
            AnyBackend::Swarm(b) => b.apps().await,
            AnyBackend::Marathon(b) => b.apps().await,
            AnyBackend::Snapshot(b) => b.apps().await,
        }
    }

    async fn reconcile(
        &self,
        spec: &AppSpec,
        app: Option<&App>,
        count: usize,
        now: f64,
        dry_run: bool,
    ) -> backend::Result<Vec<Action>> {
        match self {
            AnyBackend::Docker(b) => b.reconcile(spec, app, count, now, dry_run).await,
            AnyBackend::Swarm(b) => b.reconcile(spec, app, count, now, dry_run).await,
            AnyBackend::Marathon(b) => b.reconcile(spec, app, count, now, dry_run).await,
            AnyBackend::Snapshot(b) => b.reconcile(spec, app, count, now, dry_run).await,
        }
    }

    async fn kill_task(&self, app: &App, task: &Task) -> backend::Result<()> {
        match self {
            AnyBackend::Docker(b) => b.kill_task(app, task).await,
            AnyBackend::Swarm(b) => b.kill_task(app, task).await,
            AnyBackend::Marathon(b) => b.kill_task(app, task).await,
            AnyBackend::Snapshot(b) => b.kill_task(app, task).await,
        }
    }

    async fn delete_app(&self, app: &App) -> backend::Result<()> {
        match self {
            AnyBackend::Docker(b) => b.delete_app(app).await,
            AnyBackend::Swarm(b) => b.delete_app(app).await,
            AnyBackend::Marathon(b) => b.delete_app(app).await,
            AnyBackend::Snapshot(b) => b.delete_app(app).await,
        }
    }

    async fn runs(&self) -> backend::Result<Vec<Run>> {
        match self {
            AnyBackend::Docker(b) => b.runs().await,
            AnyBackend::Swarm(b) => b.runs().await,
            AnyBackend::Marathon(b) => b.runs().await,
            AnyBackend::Snapshot(b) => b.runs().await,
        }
    }

    async fn launch_run(&self, spec: &RunSpec, record: Option<Outcome>) -> backend::Result<Run> {
        match self {
            AnyBackend::Docker(b) => b.launch_run(spec, record).await,
            AnyBackend::Swarm(b) => b.launch_run(spec, record).await,
            AnyBackend::Marathon(b) => b.launch_run(spec, record).await,
            AnyBackend::Snapshot(b) => b.launch_run(spec, record).await,
        }
    }

    async fn start_run(&self, run: &Run) -> backend::Result<()> {
        match self {
            AnyBackend::Docker(b) => b.start_run(run).await,
            AnyBackend::Swarm(b) => b.start_run(run).await,
            AnyBackend::Marathon(b) => b.start_run(run).await,
            AnyBackend::Snapshot(b) => b.start_run(run).await,
        }
    }

    async fn kill_run(&self, run: &Run) -> backend::Result<()> {
        match self {
            AnyBackend::Docker(b) => b.kill_run(run).await,
            AnyBackend::Swarm(b) => b.kill_run(run).await,
            AnyBackend::Marathon(b) => b.kill_run(run).await,
            AnyBackend::Snapshot(b) => b.kill_run(run).await,
        }
    }

    async fn remove_run(&self, run: &Run) -> backend::Result<()> {
        match self {
            AnyBackend::Docker(b) => b.remove_run(run).await,
            AnyBackend::Swarm(b) => b.remove_run(run).await,
            AnyBackend::Marathon(b) => b.remove_run(run).await,
            AnyBackend::Snapshot(b) => b.remove_run(run).await,
        }
    }

    async fn wait_run(&self, run: &Run) -> backend::Result<i64> {
        match self {
            AnyBackend::Docker(b) => b.wait_run(run).await,
            AnyBackend::Swarm(b) => b.wait_run(run).await,
            AnyBackend::Marathon(b) => b.wait_run(run).await,
            AnyBackend::Snapshot(b) => b.wait_run(run).await,
        }
    }

    async fn run_detail(&self, run: &Run, tail: usize) -> backend::Result<RunDetail> {
        match self {
            AnyBackend::Docker(b) => b.run_detail(run, tail).await,
            AnyBackend::Swarm(b) => b.run_detail(run, tail).await,
            AnyBackend::Marathon(b) => b.run_detail(run, tail).await,
            AnyBackend::Snapshot(b) => b.run_detail(run, tail).await,
        }
    }
}
