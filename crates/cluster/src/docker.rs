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

use crate::backend::{
    Action, App, AppSpec, Backend, BackendError, Health, Result, Task, TaskState,
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

/// A task that ran at least this long before it ended starts the backoff count afresh.
const BACKOFF_RESET_S: f64 = 60.0;

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

fn parse_time(s: Option<&str>) -> Option<f64> {
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
            name: c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
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
                (None, spec.container_port)
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
        let mut actions = Vec::new();
        let tasks: &[Task] = app.map_or(&[], |a| &a.tasks);
        let mut live = 0;
        // (task, when it ended, how long it ran)
        let mut crashed: Vec<(&Task, f64, f64)> = Vec::new();
        for t in tasks {
            match (t.state, t.health) {
                (TaskState::Staged, _) => {
                    if !dry_run {
                        self.count(1);
                        self.engine.start(&t.id).await.map_err(err)?;
                    }
                    actions.push(Action::Start {
                        app: spec.id.clone(),
                        task: t.name.clone(),
                    });
                    live += 1;
                }
                (TaskState::Running, Health::Unhealthy) => {
                    if !dry_run {
                        self.count(1);
                        self.engine
                            .stop(&t.id, self.kill_grace)
                            .await
                            .map_err(err)?;
                    }
                    actions.push(Action::StopUnhealthy {
                        app: spec.id.clone(),
                        task: t.name.clone(),
                    });
                    crashed.push((t, now, now - t.started_at as f64));
                }
                (TaskState::Running, _) => live += 1,
                (TaskState::Exited, _) => {
                    let (started, finished) = self.lifetime(t).await?;
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
        crashed.sort_by(|a, b| {
            let due =
                |(t, end, ran): &(&Task, f64, f64)| end + spec.backoff.delay(restarts_of(t, *ran));
            due(a).total_cmp(&due(b))
        });
        let mut need = count.saturating_sub(live);
        for (t, ended, ran) in crashed {
            if need == 0 {
                if !dry_run {
                    self.remove(t).await?;
                }
                actions.push(Action::Clear {
                    app: spec.id.clone(),
                    task: t.name.clone(),
                });
                continue;
            }
            need -= 1;
            let restarts = restarts_of(t, ran);
            let due = ended + spec.backoff.delay(restarts);
            if now < due {
                actions.push(Action::Backoff {
                    app: spec.id.clone(),
                    crashed: t.name.clone(),
                    relaunch_in_s: (due - now).ceil() as u64,
                });
                continue;
            }
            let task = if dry_run {
                None
            } else {
                let name = self.launch(spec, restarts + 1).await?;
                self.remove(t).await?;
                Some(name)
            };
            actions.push(Action::Relaunch {
                app: spec.id.clone(),
                crashed: t.name.clone(),
                task,
                restarts: restarts + 1,
            });
        }
        for _ in 0..need {
            let task = if dry_run {
                None
            } else {
                Some(self.launch(spec, 0).await?)
            };
            actions.push(Action::Launch {
                app: spec.id.clone(),
                task,
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
}
