//! The docker backend: one host's Docker engine is the cluster. It keeps no database: each task
//! is a container, and its labels are the whole state (cluster, service, instance, app id, git
//! sha, config hash, restarts), so whatever reads the engine sees what setup-service did, and a
//! run killed at any moment leaves nothing another run cannot read back.
//!
//! Decisions of this backend (a single host has no Marathon to lean on):
//! - Health checks run in the engine (a HEALTHCHECK on the container: grace = start period,
//!   interval, timeout, consecutive failures = retries), because the engine is the one process
//!   that runs between setup-service's minutes. Its verdict arrives with the container list, so
//!   looking at every instance costs one call.
//! - No restart policy: a crashed task stays as an exited container until setup-service relaunches
//!   it, `backoff_seconds × backoff_factor^n` (at most `max_launch_delay_seconds`) after it ended,
//!   n being how many crashed predecessors it had in a row. A task that ran for a minute or more
//!   before ending starts the count afresh. An unhealthy task is stopped and then treated as a
//!   crashed one.
//! - Each task publishes the service's container port on an ephemeral host port (bridge), or
//!   is given a free port in PORT0 / PORT / MARATHON_PORT (host networking).
//! - A job run is a container labelled paasta.kind=run with its job, due time, attempt, kind and
//!   launch time; the engine keeps its exit code, times and output, so nothing else is stored.
//!   A record of a run that did not happen (missed, skipped, a hold) is a container of the job
//!   that is created and never started, labelled paasta.record: it costs no process, and it
//!   lives and goes with the other results.

use crate::backend::{
    keep, Action, App, AppSpec, Backend, BackendError, Health, Outcome, Result, Run, RunDetail,
    RunKind, RunSpec, Step, Task, TaskState,
};
use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use container::spec::Network;
use container::{health, Engine};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const LABEL_CLUSTER: &str = "paasta.cluster";
pub const LABEL_KIND: &str = "paasta.kind";
pub const LABEL_APP: &str = "paasta.app_id";
pub const LABEL_SHA: &str = "paasta.git_sha";
pub const LABEL_CONFIG: &str = "paasta.config_hash";
pub const LABEL_RESTARTS: &str = "paasta.restarts";
pub const LABEL_PORT: &str = "paasta.port";
pub const LABEL_SERVICE: &str = "paasta_service";
pub const LABEL_INSTANCE: &str = "paasta_instance";
pub const LABEL_JOB: &str = "paasta.job";
pub const LABEL_RUN_KIND: &str = "paasta.run_kind";
pub const LABEL_DUE: &str = "paasta.due";
pub const LABEL_ATTEMPT: &str = "paasta.attempt";
pub const LABEL_STARTED: &str = "paasta.started_ms";
pub const LABEL_RECORD: &str = "paasta.record";
pub const LABEL_COUNT: &str = "paasta.count";

pub struct Docker {
    engine: Engine,
    cluster: String,
    host: String,
    /// How long a killed task has between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    calls: AtomicUsize,
}

fn err(message: impl std::fmt::Display) -> BackendError {
    BackendError {
        backend: "docker",
        message: message.to_string(),
    }
}

/// The host tasks are reached at: DOCKER_HOST's for a remote engine, else loopback (published
/// ports listen on every address of this host).
fn task_host() -> String {
    let address = container::engine::engine_address();
    address
        .strip_prefix("tcp://")
        .or_else(|| address.strip_prefix("http://"))
        .and_then(|rest| rest.rsplit_once(':').map(|(h, _)| h.to_string()))
        .unwrap_or_else(|| "127.0.0.1".into())
}

pub(crate) fn parse_time(s: Option<&str>) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(s?).ok()?;
    let secs = t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9;
    // The engine reports a never-finished container as year 1.
    (secs > 0.0).then_some(secs)
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind(("0.0.0.0", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| err(format!("finding a free port for a host-network task: {e}")))
}

/// A container's name as given at create (the engine lists it with a leading '/').
fn container_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// The exit code in a container's status text ("Exited (3) 2 minutes ago").
fn exit_code_of(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest[..rest.find(')')?].parse().ok()
}

fn run_of(c: &ContainerSummary) -> Option<Run> {
    let labels = c.labels.as_ref()?;
    let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let number = |k: &str| labels.get(k).and_then(|v| v.parse::<i64>().ok());
    let count = number(LABEL_COUNT).unwrap_or(1) as u32;
    let outcome = match labels.get(LABEL_RECORD).map(String::as_str) {
        Some("missed") => Outcome::Missed { count },
        Some("skipped") => Outcome::Skipped { count },
        Some("held") => Outcome::Held,
        _ => match c.state {
            Some(ContainerSummaryStateEnum::CREATED) => Outcome::Staged,
            Some(
                ContainerSummaryStateEnum::RUNNING
                | ContainerSummaryStateEnum::PAUSED
                | ContainerSummaryStateEnum::RESTARTING
                | ContainerSummaryStateEnum::REMOVING,
            ) => Outcome::Running,
            _ => match exit_code_of(c.status.as_deref().unwrap_or("")) {
                Some(0) => Outcome::Succeeded,
                Some(code) => Outcome::Failed { exit_code: code },
                None => Outcome::Failed { exit_code: -1 },
            },
        },
    };
    Some(Run {
        id: c.id.clone()?,
        name: container_name(c),
        service: label(LABEL_SERVICE),
        instance: label(LABEL_INSTANCE),
        job: label(LABEL_JOB),
        kind: RunKind::parse(&label(LABEL_RUN_KIND))?,
        due: number(LABEL_DUE)?,
        attempt: number(LABEL_ATTEMPT).unwrap_or(0) as u32,
        started_ms: number(LABEL_STARTED).unwrap_or(c.created.unwrap_or(0) * 1000),
        git_sha: label(LABEL_SHA),
        outcome,
    })
}

/// A due time in container names: 20260101T030000.
pub(crate) fn compact_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y%m%dT%H%M%S").to_string())
        .unwrap_or_else(|| secs.to_string())
}

impl Docker {
    /// Connects to the engine; the backend sees only `cluster`'s tasks.
    pub async fn connect(cluster: &str, timeout: Duration) -> Result<Docker> {
        let engine = Engine::connect(timeout).await.map_err(err)?;
        Ok(Docker {
            engine,
            cluster: cluster.to_string(),
            host: task_host(),
            kill_grace: Duration::from_secs(10),
            calls: AtomicUsize::new(1),
        })
    }

    /// Engine API calls made so far (the version negotiation included).
    pub fn api_calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self, n: usize) {
        self.calls.fetch_add(n, Ordering::Relaxed);
    }

    fn task_of(
        &self,
        c: &ContainerSummary,
    ) -> Option<(String, String, String, String, String, Task)> {
        let labels = c.labels.as_ref()?;
        let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
        let app = labels.get(LABEL_APP)?.clone();
        let state = match c.state {
            Some(ContainerSummaryStateEnum::CREATED) => TaskState::Staged,
            Some(
                ContainerSummaryStateEnum::RUNNING
                | ContainerSummaryStateEnum::PAUSED
                | ContainerSummaryStateEnum::RESTARTING,
            ) => TaskState::Running,
            _ => TaskState::Exited,
        };
        let status = c.status.as_deref().unwrap_or("");
        // API 1.41 reports health only inside the status text: "Up 3 minutes (healthy)".
        let health = if status.contains("(healthy)") {
            Health::Healthy
        } else if status.contains("(unhealthy)") {
            Health::Unhealthy
        } else if status.contains("(health: starting)") {
            Health::Starting
        } else {
            Health::Unchecked
        };
        let port = labels
            .get(LABEL_PORT)
            .and_then(|p| p.parse().ok())
            .or_else(|| {
                c.ports
                    .iter()
                    .flatten()
                    .find_map(|p| p.public_port.filter(|_| p.private_port != 0))
            });
        let task = Task {
            id: c.id.clone().unwrap_or_default(),
            name: container_name(c),
            host: self.host.clone(),
            port,
            state,
            health,
            started_at: c.created.unwrap_or(0),
            restarts: label(LABEL_RESTARTS).parse().unwrap_or(0),
        };
        Some((
            app,
            label(LABEL_SERVICE),
            label(LABEL_INSTANCE),
            label(LABEL_SHA),
            label(LABEL_CONFIG),
            task,
        ))
    }

    /// When an exited task started and ended (unix seconds), from the engine.
    async fn lifetime(&self, task: &Task) -> Result<(f64, f64)> {
        self.count(1);
        let c = self.engine.inspect(&task.id).await.map_err(err)?;
        let state = c.state.unwrap_or_default();
        let started = parse_time(state.started_at.as_deref()).unwrap_or(task.started_at as f64);
        let finished = parse_time(state.finished_at.as_deref()).unwrap_or(started);
        Ok((started, finished))
    }

    async fn launch(&self, spec: &AppSpec, restarts: u32) -> Result<String> {
        let mut c = spec.container.clone();
        c.name = format!(
            "paasta-{}-{:08x}",
            spec.id,
            uuid::Uuid::new_v4().as_u128() as u32
        );
        let mut set_env = |k: &str, v: String| {
            if !c.env.iter().any(|(name, _)| name == k) {
                c.env.push((k.to_string(), v));
            }
        };
        set_env("MARATHON_APP_ID", format!("/{}", spec.id));
        set_env("MESOS_TASK_ID", c.name.clone());
        let (port, listen) = match c.network {
            Network::Bridge => {
                c.publish = Some(0);
                (None, c.container_port)
            }
            Network::Host => {
                let p = free_port()?;
                for k in ["PORT0", "PORT", "MARATHON_PORT"] {
                    c.env.push((k.to_string(), p.to_string()));
                }
                (Some(p), p)
            }
        };
        c.healthcheck = spec
            .health
            .as_ref()
            .map(|(probe, policy)| health::engine_healthcheck(probe, *policy, listen));
        c.labels.extend([
            (LABEL_CLUSTER.to_string(), spec.cluster.clone()),
            (LABEL_KIND.to_string(), "task".to_string()),
            (LABEL_APP.to_string(), spec.id.clone()),
            (LABEL_SHA.to_string(), spec.git_sha.clone()),
            (LABEL_CONFIG.to_string(), spec.config_hash.clone()),
            (LABEL_RESTARTS.to_string(), restarts.to_string()),
        ]);
        if let Some(p) = port {
            c.labels.push((LABEL_PORT.to_string(), p.to_string()));
        }
        self.count(1);
        let id = self.engine.create(&c).await.map_err(err)?;
        self.count(1);
        if let Err(e) = self.engine.start(&id).await {
            self.count(1);
            let _ = self.engine.remove(&id).await;
            return Err(err(format!("starting {}: {e}", c.name)));
        }
        Ok(c.name)
    }

    async fn remove(&self, task: &Task) -> Result<()> {
        self.count(1);
        self.engine
            .remove(&task.id)
            .await
            .map_err(|e| err(format!("removing {}: {e}", task.name)))
    }
}

impl Backend for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn apps(&self) -> Result<Vec<App>> {
        self.count(1);
        let containers = self
            .engine
            .list(&[(LABEL_CLUSTER, &self.cluster), (LABEL_KIND, "task")])
            .await
            .map_err(err)?;
        let mut apps: BTreeMap<String, App> = BTreeMap::new();
        for c in &containers {
            let Some((id, service, instance, git_sha, config_hash, task)) = self.task_of(c) else {
                continue;
            };
            apps.entry(id.clone())
                .or_insert_with(|| App {
                    id,
                    service,
                    instance,
                    git_sha,
                    config_hash,
                    tasks: Vec::new(),
                })
                .tasks
                .push(task);
        }
        let mut apps: Vec<App> = apps.into_values().collect();
        for app in &mut apps {
            app.tasks
                .sort_by(|a, b| (a.started_at, &a.name).cmp(&(b.started_at, &b.name)));
        }
        Ok(apps)
    }

    async fn reconcile(
        &self,
        spec: &AppSpec,
        app: Option<&App>,
        count: usize,
        now: f64,
        dry_run: bool,
    ) -> Result<Vec<Action>> {
        let tasks: &[Task] = app.map_or(&[], |a| &a.tasks);
        let mut lifetimes = BTreeMap::new();
        for t in tasks.iter().filter(|t| t.state == TaskState::Exited) {
            lifetimes.insert(t.id.clone(), self.lifetime(t).await?);
        }
        let steps = keep(tasks, |t| lifetimes[&t.id], count, now, spec.backoff);
        let app_id = || spec.id.clone();
        let mut actions = Vec::new();
        for step in steps {
            actions.push(match step {
                Step::Start(t) => {
                    if !dry_run {
                        self.count(1);
                        self.engine.start(&t.id).await.map_err(err)?;
                    }
                    Action::Start {
                        app: app_id(),
                        task: t.name.clone(),
                    }
                }
                Step::StopUnhealthy(t) => {
                    if !dry_run {
                        self.count(1);
                        self.engine
                            .stop(&t.id, self.kill_grace)
                            .await
                            .map_err(err)?;
                    }
                    Action::StopUnhealthy {
                        app: app_id(),
                        task: t.name.clone(),
                    }
                }
                Step::Clear(t) => {
                    if !dry_run {
                        self.remove(t).await?;
                    }
                    Action::Clear {
                        app: app_id(),
                        task: t.name.clone(),
                    }
                }
                Step::Backoff(t, secs) => Action::Backoff {
                    app: app_id(),
                    crashed: t.name.clone(),
                    relaunch_in_s: secs,
                },
                Step::Relaunch(t, restarts) => {
                    let task = if dry_run {
                        None
                    } else {
                        let name = self.launch(spec, restarts).await?;
                        self.remove(t).await?;
                        Some(name)
                    };
                    Action::Relaunch {
                        app: app_id(),
                        crashed: t.name.clone(),
                        task,
                        restarts,
                    }
                }
                Step::Launch => Action::Launch {
                    app: app_id(),
                    task: if dry_run {
                        None
                    } else {
                        Some(self.launch(spec, 0).await?)
                    },
                },
            });
        }
        Ok(actions)
    }

    async fn kill_task(&self, _app: &App, task: &Task) -> Result<()> {
        if task.state == TaskState::Running {
            self.count(1);
            self.engine
                .stop(&task.id, self.kill_grace)
                .await
                .map_err(|e| err(format!("stopping {}: {e}", task.name)))?;
        }
        self.remove(task).await
    }

    async fn delete_app(&self, app: &App) -> Result<()> {
        for t in &app.tasks {
            self.kill_task(app, t).await?;
        }
        Ok(())
    }

    async fn runs(&self) -> Result<Vec<Run>> {
        self.count(1);
        let containers = self
            .engine
            .list(&[(LABEL_CLUSTER, &self.cluster), (LABEL_KIND, "run")])
            .await
            .map_err(err)?;
        let mut runs: Vec<Run> = containers.iter().filter_map(run_of).collect();
        runs.sort_by(|a, b| (a.started_ms, &a.name).cmp(&(b.started_ms, &b.name)));
        Ok(runs)
    }

    async fn launch_run(&self, spec: &RunSpec, record: Option<Outcome>) -> Result<Run> {
        let mut c = spec.container.clone();
        let what = match record {
            Some(_) => "record",
            None => spec.kind.as_str(),
        };
        c.name = format!(
            "paasta-{what}-{}.{}-{}-{}-{:08x}",
            spec.service,
            spec.instance,
            compact_time(spec.due),
            spec.attempt,
            uuid::Uuid::new_v4().as_u128() as u32
        );
        c.labels.extend([
            (LABEL_CLUSTER.to_string(), spec.cluster.clone()),
            (LABEL_KIND.to_string(), "run".to_string()),
            (LABEL_JOB.to_string(), spec.job.clone()),
            (LABEL_RUN_KIND.to_string(), spec.kind.as_str().to_string()),
            (LABEL_DUE.to_string(), spec.due.to_string()),
            (LABEL_ATTEMPT.to_string(), spec.attempt.to_string()),
            (LABEL_STARTED.to_string(), spec.started_ms.to_string()),
            (LABEL_SHA.to_string(), spec.git_sha.clone()),
        ]);
        let (record_label, count) = match record {
            Some(Outcome::Missed { count }) => (Some("missed"), count),
            Some(Outcome::Skipped { count }) => (Some("skipped"), count),
            Some(Outcome::Held) => (Some("held"), 1),
            Some(other) => return Err(err(format!("{other:?} is not a record"))),
            None => (None, 1),
        };
        if let Some(r) = record_label {
            c.labels.push((LABEL_RECORD.to_string(), r.to_string()));
            c.labels.push((LABEL_COUNT.to_string(), count.to_string()));
            c.healthcheck = None;
        }
        self.count(1);
        let id = self.engine.create(&c).await.map_err(err)?;
        if record.is_none() {
            self.count(1);
            if let Err(e) = self.engine.start(&id).await {
                self.count(1);
                let _ = self.engine.remove(&id).await;
                return Err(err(format!("starting {}: {e}", c.name)));
            }
        }
        Ok(Run {
            id,
            name: c.name,
            service: spec.service.clone(),
            instance: spec.instance.clone(),
            job: spec.job.clone(),
            kind: spec.kind,
            due: spec.due,
            attempt: spec.attempt,
            started_ms: spec.started_ms,
            git_sha: spec.git_sha.clone(),
            outcome: record.unwrap_or(Outcome::Running),
        })
    }

    async fn start_run(&self, run: &Run) -> Result<()> {
        self.count(1);
        self.engine
            .start(&run.id)
            .await
            .map_err(|e| err(format!("starting {}: {e}", run.name)))
    }

    async fn kill_run(&self, run: &Run) -> Result<()> {
        self.count(1);
        self.engine
            .stop(&run.id, self.kill_grace)
            .await
            .map_err(|e| err(format!("stopping {}: {e}", run.name)))
    }

    async fn remove_run(&self, run: &Run) -> Result<()> {
        self.count(1);
        self.engine
            .remove(&run.id)
            .await
            .map_err(|e| err(format!("removing {}: {e}", run.name)))
    }

    async fn wait_run(&self, run: &Run) -> Result<i64> {
        self.count(1);
        self.engine
            .wait(&run.id)
            .await
            .map_err(|e| err(format!("waiting for {}: {e}", run.name)))
    }

    async fn run_detail(&self, run: &Run, tail: usize) -> Result<RunDetail> {
        self.count(1);
        let c = self.engine.inspect(&run.id).await.map_err(err)?;
        let state = c.state.unwrap_or_default();
        let started = parse_time(state.started_at.as_deref());
        let finished = parse_time(state.finished_at.as_deref());
        let running = state.running.unwrap_or(false);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let duration_s = match (started, finished, running) {
            (Some(s), _, true) => Some(now - s),
            (Some(s), Some(f), false) => Some((f - s).max(0.0)),
            _ => None,
        };
        let output_tail = if started.is_some() && tail > 0 {
            self.count(1);
            self.engine.logs_tail(&run.id, tail).await.map_err(err)?
        } else {
            Vec::new()
        };
        Ok(RunDetail {
            exit_code: (!running && started.is_some())
                .then_some(state.exit_code)
                .flatten(),
            started_at: started.and(state.started_at),
            finished_at: finished.filter(|_| !running).and(state.finished_at),
            duration_s,
            output_tail,
        })
    }
}
