//! The swarm backend: a Docker Swarm (reached through a manager's Engine API) is the cluster.
//! Like the docker backend it keeps no database: its services' labels are the whole state.
//!
//! Decisions of this backend:
//! - A task is a one-replica Swarm service, and an app is the services labelled with its app id
//!   (`docker service ls --filter label=paasta.app_id=…`). Swarm cannot end a chosen task of a
//!   replicated service (scaling down picks its own victims, by node balance), and setup-service
//!   drains exactly the tasks it kills and keeps the oldest when scaling down; so each task is a
//!   service it can end by itself.
//! - Placement is decided here from the app's Marathon constraints (crate::placement), and each
//!   task is pinned to the node chosen (`node.id==…`): Swarm knows nothing of an app spread over
//!   services, and with no restart policy it would not move a task anyway. A task whose node
//!   goes down or is drained ends, and setup-service relaunches it where placement now allows.
//! - No restart policy (condition none), as on the docker backend: a crashed task is relaunched
//!   by setup-service after its backoff, by a forced update of the same service (a new task
//!   in the same slot). Health checks are the task container's own, which Swarm acts on: a task
//!   stays `starting` until healthy and fails once unhealthy. A task whose node is down counts
//!   as ended.
//! - Ports are published in host mode (a port Swarm picks on the task's node; the routing mesh
//!   needs IPVS), and drain endpoints are reached at the node's address.
//! - A job run is a replicated job (mode replicated-job, one completion). Swarm cannot stop a
//!   job's task and keep its result, so a killed run becomes a result service (no replicas)
//!   carrying its exit code, times and last output lines, and the job is removed. Records of runs
//!   that did not happen are services with no replicas, labelled as on the docker backend.

use crate::backend::{
    keep, Action, App, AppSpec, Backend, BackendError, Health, Lifetime, Outcome, Result, Run,
    RunDetail, RunKind, RunSpec, Step, Task, TaskState,
};
use crate::docker::{
    parse_time, LABEL_APP, LABEL_ATTEMPT, LABEL_CLUSTER, LABEL_CONFIG, LABEL_COUNT, LABEL_DUE,
    LABEL_INSTANCE, LABEL_JOB, LABEL_KIND, LABEL_PORT, LABEL_RECORD, LABEL_RESTARTS,
    LABEL_RUN_KIND, LABEL_SERVICE, LABEL_SHA, LABEL_STARTED,
};
use crate::placement::{self, Rules};
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, Limit, Mount, MountType, NetworkAttachmentConfig, NodeSpecAvailabilityEnum,
    NodeState, Service, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecModeReplicatedJob, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    TaskSpecResources, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use bollard::query_parameters::{
    ListServicesOptionsBuilder, ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};
use container::spec::{ContainerSpec, Network};
use container::{health, Engine};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A killed run's result: its exit code, and when it started and was killed (RFC 3339).
pub const LABEL_EXIT_CODE: &str = "paasta.exit_code";
pub const LABEL_STARTED_AT: &str = "paasta.started_at";
pub const LABEL_FINISHED_AT: &str = "paasta.finished_at";
/// A killed run's last output lines, joined by newlines.
pub const LABEL_OUTPUT: &str = "paasta.output_tail";

/// The node placement chose for a task: where it counts until Swarm has assigned it one.
pub const LABEL_PLACED: &str = "paasta.placed_on";

/// How many of a killed run's last output lines its result keeps.
const KEPT_LINES: usize = 20;

pub struct Swarm {
    engine: Engine,
    cluster: String,
    /// How long a killed task has between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    calls: AtomicUsize,
    /// What the last look at the cluster saw beyond the tasks themselves.
    seen: Mutex<Seen>,
}

#[derive(Default, Clone)]
struct Seen {
    nodes: Vec<placement::Node>,
    /// Per task (service id): its node, its service's version, and when it started and ended.
    tasks: HashMap<String, TaskFacts>,
}

#[derive(Clone, Default)]
struct TaskFacts {
    node: Option<String>,
    version: u64,
    lifetime: Lifetime,
    launched: f64,
}

fn err(message: impl std::fmt::Display) -> BackendError {
    BackendError {
        backend: "swarm",
        message: message.to_string(),
    }
}

/// An Engine API error, with the manager's own message.
fn api(e: bollard::errors::Error) -> BackendError {
    err(container::EngineError::from(e))
}

/// A service name: a DNS label (letters, digits, '-' and '_' inside, at most 63 characters)
/// of `prefix`, as much of `body` as fits, and a random suffix.
fn service_name(prefix: &str, body: &str) -> String {
    let suffix = format!("{:08x}", uuid::Uuid::new_v4().as_u128() as u32);
    let room = 63 - prefix.len() - suffix.len() - 2;
    let clean: String = body
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(room)
        .collect();
    let clean = clean.trim_matches(|c| c == '-' || c == '_');
    format!("{prefix}-{clean}-{suffix}")
}

fn filters(pairs: &[(&str, String)]) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in pairs {
        map.entry(k.to_string()).or_default().push(v.clone());
    }
    map
}

fn labels_of(s: &Service) -> HashMap<String, String> {
    s.spec
        .as_ref()
        .and_then(|sp| sp.labels.clone())
        .unwrap_or_default()
}

fn time_of(s: &Option<String>) -> Option<f64> {
    parse_time(s.as_deref())
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn rfc3339(secs: f64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, ((secs.fract()) * 1e9) as u32)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

use bollard::models::TaskState as SwarmState;

/// The current task of a one-task service: the newest one Swarm still means to run, else the
/// newest of all.
fn current_task<'a>(tasks: &[&'a bollard::models::Task]) -> Option<&'a bollard::models::Task> {
    let wanted = |t: &bollard::models::Task| {
        matches!(
            t.desired_state,
            Some(SwarmState::RUNNING | SwarmState::READY | SwarmState::COMPLETE)
        )
    };
    let newest = |a: &&bollard::models::Task, b: &&bollard::models::Task| {
        let at = |t: &bollard::models::Task| time_of(&t.created_at).unwrap_or(0.0);
        at(a).total_cmp(&at(b))
    };
    tasks
        .iter()
        .copied()
        .filter(|t| wanted(t))
        .max_by(newest)
        .or_else(|| tasks.iter().copied().max_by(newest))
}

fn is_done(state: Option<&SwarmState>) -> bool {
    matches!(
        state,
        Some(
            SwarmState::COMPLETE
                | SwarmState::SHUTDOWN
                | SwarmState::FAILED
                | SwarmState::REJECTED
                | SwarmState::REMOVE
                | SwarmState::ORPHANED
        )
    )
}

fn exit_code_of(t: &bollard::models::Task) -> Option<i64> {
    t.status
        .as_ref()
        .and_then(|s| s.container_status.as_ref())
        .and_then(|c| c.exit_code)
}

/// A run's outcome from its service's labels and current task.
fn outcome_of(labels: &HashMap<String, String>, task: Option<&bollard::models::Task>) -> Outcome {
    let count = labels
        .get(LABEL_COUNT)
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    match labels.get(LABEL_RECORD).map(String::as_str) {
        Some("missed") => return Outcome::Missed { count },
        Some("skipped") => return Outcome::Skipped { count },
        Some("held") => return Outcome::Held,
        _ => {}
    }
    if let Some(code) = labels.get(LABEL_EXIT_CODE).and_then(|c| c.parse().ok()) {
        return Outcome::Failed { exit_code: code };
    }
    let Some(t) = task else {
        return Outcome::Running;
    };
    let state = t.status.as_ref().and_then(|s| s.state.as_ref());
    match state {
        Some(SwarmState::COMPLETE) => Outcome::Succeeded,
        s if is_done(s) => Outcome::Failed {
            exit_code: exit_code_of(t).filter(|c| *c != 0).unwrap_or(-1),
        },
        _ => Outcome::Running,
    }
}

impl Swarm {
    /// Connects to the engine, which must be a swarm manager; the backend sees only
    /// `cluster`'s services.
    pub async fn connect(cluster: &str, timeout: Duration) -> Result<Swarm> {
        let engine = Engine::connect(timeout).await.map_err(err)?;
        let swarm = Swarm {
            engine,
            cluster: cluster.to_string(),
            kill_grace: Duration::from_secs(10),
            calls: AtomicUsize::new(2),
            seen: Mutex::new(Seen::default()),
        };
        if let Err(e) = swarm.engine.docker().inspect_swarm().await {
            return Err(err(format!(
                "the engine at {} is not a swarm manager ({}); point DOCKER_HOST at a manager",
                container::engine::engine_address(),
                container::EngineError::from(e)
            )));
        }
        Ok(swarm)
    }

    /// Engine API calls made so far (the version negotiation and the swarm check included).
    pub fn api_calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self, n: usize) {
        self.calls.fetch_add(n, Ordering::Relaxed);
    }

    async fn services(&self, kind: &str) -> Result<Vec<Service>> {
        self.count(1);
        let opts = ListServicesOptionsBuilder::default()
            .filters(&filters(&[
                ("label", format!("{LABEL_CLUSTER}={}", self.cluster)),
                ("label", format!("{LABEL_KIND}={kind}")),
            ]))
            .build();
        self.engine
            .docker()
            .list_services(Some(opts))
            .await
            .map_err(api)
    }

    /// Tasks by service id: every task of the swarm (one call), or one service's.
    async fn tasks(
        &self,
        service: Option<&str>,
    ) -> Result<HashMap<String, Vec<bollard::models::Task>>> {
        self.count(1);
        let opts = service.map(|s| {
            ListTasksOptionsBuilder::default()
                .filters(&filters(&[("service", s.to_string())]))
                .build()
        });
        let tasks = self.engine.docker().list_tasks(opts).await.map_err(api)?;
        let mut by_service: HashMap<String, Vec<bollard::models::Task>> = HashMap::new();
        for t in tasks {
            if let Some(s) = t.service_id.clone() {
                by_service.entry(s).or_default().push(t);
            }
        }
        Ok(by_service)
    }

    /// The nodes, as placement sees them, with their addresses and whether they are up.
    async fn nodes(&self) -> Result<Vec<(placement::Node, String, bool)>> {
        self.count(1);
        let nodes = self.engine.docker().list_nodes(None).await.map_err(api)?;
        Ok(nodes
            .into_iter()
            .map(|n| {
                let spec = n.spec.unwrap_or_default();
                let status = n.status.unwrap_or_default();
                let up = status.state == Some(NodeState::READY);
                let active = spec.availability == Some(NodeSpecAvailabilityEnum::ACTIVE);
                let node = placement::Node {
                    id: n.id.unwrap_or_default(),
                    hostname: n.description.and_then(|d| d.hostname).unwrap_or_default(),
                    labels: spec.labels.unwrap_or_default().into_iter().collect(),
                    available: up && active,
                };
                (node, status.addr.unwrap_or_default(), up)
            })
            .collect())
    }

    /// The service spec of one task of `spec`'s app.
    fn task_service(
        &self,
        spec: &AppSpec,
        name: &str,
        restarts: u32,
        node: String,
    ) -> Result<ServiceSpec> {
        let mut c = spec.container.clone();
        let mut set_env = |k: &str, v: String| {
            if !c.env.iter().any(|(name, _)| name == k) {
                c.env.push((k.to_string(), v));
            }
        };
        set_env("MARATHON_APP_ID", format!("/{}", spec.id));
        set_env("MESOS_TASK_ID", name.to_string());
        let mut labels = vec![
            (LABEL_CLUSTER.to_string(), spec.cluster.clone()),
            (LABEL_KIND.to_string(), "task".to_string()),
            (LABEL_APP.to_string(), spec.id.clone()),
            (LABEL_SHA.to_string(), spec.git_sha.clone()),
            (LABEL_CONFIG.to_string(), spec.config_hash.clone()),
            (LABEL_RESTARTS.to_string(), restarts.to_string()),
            (LABEL_PLACED.to_string(), node.clone()),
        ];
        let (endpoint_spec, listen) = match c.network {
            Network::Bridge => (
                Some(EndpointSpec {
                    ports: Some(vec![EndpointPortConfig {
                        protocol: Some(EndpointPortConfigProtocolEnum::TCP),
                        target_port: Some(i64::from(c.container_port)),
                        publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                c.container_port,
            ),
            Network::Host => {
                // A port on a node this process cannot see: drawn at random from a range
                // below the kernels' usual ephemeral one, so that it rarely collides.
                let p = 20000 + (uuid::Uuid::new_v4().as_u128() % 12000) as u16;
                for k in ["PORT0", "PORT", "MARATHON_PORT"] {
                    c.env.push((k.to_string(), p.to_string()));
                }
                labels.push((LABEL_PORT.to_string(), p.to_string()));
                (None, p)
            }
        };
        c.healthcheck = spec
            .health
            .as_ref()
            .map(|(probe, policy)| health::engine_healthcheck(probe, *policy, listen));
        c.labels.extend(labels.iter().cloned());
        let mut labels: HashMap<String, String> = labels.into_iter().collect();
        for (k, v) in &c.labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let template = TaskSpec {
            // Pinned: Swarm knows nothing of the app's other tasks (no restart policy either),
            // so a task whose node goes is relaunched by setup-service, placed anew.
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec![format!("node.id=={node}")]),
                ..Default::default()
            }),
            ..self.task_template(&c)
        };
        Ok(ServiceSpec {
            name: Some(name.to_string()),
            labels: Some(labels),
            task_template: Some(template),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
                ..Default::default()
            }),
            endpoint_spec,
            ..Default::default()
        })
    }

    /// What a task runs: its container, its limits, the host network when it asks for it, and
    /// no restart policy (setup-service relaunches, and a job runs once).
    fn task_template(&self, c: &ContainerSpec) -> TaskSpec {
        TaskSpec {
            container_spec: Some(self.container_spec(c)),
            resources: Some(resources(c)),
            restart_policy: no_restart(),
            networks: (c.network == Network::Host).then(|| {
                vec![NetworkAttachmentConfig {
                    target: Some("host".into()),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }
    }

    fn container_spec(&self, c: &ContainerSpec) -> TaskSpecContainerSpec {
        let some_vec = |v: Vec<String>| (!v.is_empty()).then_some(v);
        TaskSpecContainerSpec {
            image: Some(c.image.clone()),
            labels: Some(c.labels.iter().cloned().collect()),
            // The image's entrypoint stays; the command takes the place of its CMD.
            args: some_vec(c.command.clone()),
            env: Some(
                c.env
                    .iter()
                    .chain(&c.options.env)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            mounts: some_mounts(&c.volumes),
            init: Some(c.options.init.unwrap_or(c.init)),
            capability_add: some_vec(
                c.cap_add
                    .iter()
                    .chain(&c.options.cap_add)
                    .cloned()
                    .collect(),
            ),
            capability_drop: some_vec(
                c.cap_drop
                    .iter()
                    .filter(|x| !c.options.cap_add.contains(x))
                    .chain(&c.options.cap_drop)
                    .cloned()
                    .collect(),
            ),
            health_check: c.healthcheck.as_ref().map(|h| h.to_api()),
            stop_grace_period: Some(self.kill_grace.as_nanos() as i64),
            user: c.options.user.clone(),
            dir: c.options.workdir.clone(),
            read_only: c.options.read_only,
            ..Default::default()
        }
    }

    async fn create(&self, spec: ServiceSpec) -> Result<String> {
        self.count(1);
        let name = spec.name.clone().unwrap_or_default();
        let created = self
            .engine
            .docker()
            .create_service(spec, None)
            .await
            .map_err(|e| {
                err(format!(
                    "creating {name}: {}",
                    container::EngineError::from(e)
                ))
            })?;
        created
            .id
            .ok_or_else(|| err(format!("creating {name}: the manager returned no id")))
    }

    async fn delete(&self, id: &str, name: &str) -> Result<()> {
        self.count(1);
        match self.engine.docker().delete_service(id).await {
            Ok(()) => Ok(()),
            // Gone already: what was asked is done.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(err(format!(
                "removing {name}: {}",
                container::EngineError::from(e)
            ))),
        }
    }

    /// The nodes and facts of the last look, or a fresh look at the nodes.
    /// What the last look saw of `tasks` and the nodes; a fresh look when that was not this
    /// backend's (the caller read the apps through another connection) or missed one of them.
    async fn seen(&self, tasks: &[Task]) -> Result<Seen> {
        let fresh = {
            let seen = self.seen.lock().expect("seen");
            !seen.nodes.is_empty() && tasks.iter().all(|t| seen.tasks.contains_key(&t.id))
        };
        if !fresh {
            self.apps().await?;
        }
        Ok(self.seen.lock().expect("seen").clone())
    }

    async fn version_of(&self, id: &str, seen: &Seen) -> Result<u64> {
        if let Some(f) = seen.tasks.get(id) {
            return Ok(f.version);
        }
        let s = self.inspect(id).await?;
        Ok(s.version.and_then(|v| v.index).unwrap_or(0))
    }

    async fn inspect(&self, id: &str) -> Result<Service> {
        self.count(1);
        self.engine
            .docker()
            .inspect_service(id, None::<bollard::query_parameters::InspectServiceOptions>)
            .await
            .map_err(|e| err(format!("{id}: {}", container::EngineError::from(e))))
    }

    /// A task placed on `node`: a new service, or the crashed task's service updated with force (a
    /// new task in its slot) carrying its restart count; the task's name.
    async fn start_task(
        &self,
        spec: &AppSpec,
        crashed: Option<&Task>,
        restarts: u32,
        node: String,
        seen: &Seen,
    ) -> Result<String> {
        let Some(t) = crashed else {
            let name = service_name("paasta", &spec.id);
            self.create(self.task_service(spec, &name, 0, node)?)
                .await?;
            return Ok(name);
        };
        let version = self.version_of(&t.id, seen).await?;
        let mut s = self.task_service(spec, &t.name, restarts, node)?;
        if let Some(tmpl) = s.task_template.as_mut() {
            tmpl.force_update = Some(version);
        }
        self.count(1);
        self.engine
            .docker()
            .update_service(
                &t.id,
                s,
                UpdateServiceOptionsBuilder::default()
                    .version(version as i32)
                    .build(),
                None,
            )
            .await
            .map_err(|e| {
                err(format!(
                    "relaunching {}: {}",
                    t.name,
                    container::EngineError::from(e)
                ))
            })?;
        Ok(t.name.clone())
    }

    fn run_labels(run: &Run, cluster: &str) -> Vec<(String, String)> {
        vec![
            (LABEL_CLUSTER.to_string(), cluster.to_string()),
            (LABEL_KIND.to_string(), "run".to_string()),
            (LABEL_SERVICE.to_string(), run.service.clone()),
            (LABEL_INSTANCE.to_string(), run.instance.clone()),
            (LABEL_JOB.to_string(), run.job.clone()),
            (LABEL_RUN_KIND.to_string(), run.kind.as_str().to_string()),
            (LABEL_DUE.to_string(), run.due.to_string()),
            (LABEL_ATTEMPT.to_string(), run.attempt.to_string()),
            (LABEL_STARTED.to_string(), run.started_ms.to_string()),
            (LABEL_SHA.to_string(), run.git_sha.clone()),
        ]
    }

    /// A service that runs nothing and keeps `labels`: a record, or a killed run's result.
    fn holder(&self, name: &str, image: &str, labels: Vec<(String, String)>) -> ServiceSpec {
        ServiceSpec {
            name: Some(name.to_string()),
            labels: Some(labels.into_iter().collect()),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(image.to_string()),
                    ..Default::default()
                }),
                restart_policy: no_restart(),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(0) }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn current_run_task(&self, run: &Run) -> Result<Option<bollard::models::Task>> {
        let mut tasks = self.tasks(Some(&run.id)).await?;
        let list = tasks.remove(&run.id).unwrap_or_default();
        let refs: Vec<&bollard::models::Task> = list.iter().collect();
        Ok(current_task(&refs).cloned())
    }
}

fn some_mounts(volumes: &[container::spec::Mount]) -> Option<Vec<Mount>> {
    (!volumes.is_empty()).then(|| {
        volumes
            .iter()
            .map(|m| Mount {
                source: Some(m.host.clone()),
                target: Some(m.container.clone()),
                typ: Some(MountType::BIND),
                read_only: Some(m.mode == "ro"),
                ..Default::default()
            })
            .collect()
    })
}

fn no_restart() -> Option<TaskSpecRestartPolicy> {
    Some(TaskSpecRestartPolicy {
        condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
        ..Default::default()
    })
}

fn resources(c: &ContainerSpec) -> TaskSpecResources {
    TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: (c.cpu_period > 0)
                .then(|| (c.cpu_quota as u128 * 1_000_000_000 / c.cpu_period as u128) as i64),
            memory_bytes: Some((c.memory_mb * 1024 * 1024) as i64),
            pids: c.options.pids_limit,
        }),
        ..Default::default()
    }
}

impl Backend for Swarm {
    fn name(&self) -> &'static str {
        "swarm"
    }

    async fn apps(&self) -> Result<Vec<App>> {
        let (services, tasks, nodes) =
            futures_util::try_join!(self.services("task"), self.tasks(None), self.nodes())?;
        let node_of: HashMap<&str, &(placement::Node, String, bool)> =
            nodes.iter().map(|n| (n.0.id.as_str(), n)).collect();
        let mut seen = Seen {
            nodes: nodes.iter().map(|n| n.0.clone()).collect(),
            tasks: HashMap::new(),
        };
        let mut apps: BTreeMap<String, App> = BTreeMap::new();
        for s in &services {
            let labels = labels_of(s);
            let Some(app_id) = labels.get(LABEL_APP).cloned() else {
                continue;
            };
            let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
            let id = s.id.clone().unwrap_or_default();
            let name = s
                .spec
                .as_ref()
                .and_then(|sp| sp.name.clone())
                .unwrap_or_default();
            let checked = s
                .spec
                .as_ref()
                .and_then(|sp| sp.task_template.as_ref())
                .and_then(|t| t.container_spec.as_ref())
                .is_some_and(|c| c.health_check.is_some());
            let mine: Vec<&bollard::models::Task> = tasks
                .get(&id)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let current = current_task(&mine);
            let node_id = current.and_then(|t| t.node_id.as_deref());
            let node = node_id.and_then(|n| node_of.get(n));
            let state = current
                .and_then(|t| t.status.as_ref())
                .and_then(|st| st.state.as_ref());
            // Not placed yet, or on a node that is up; a node gone from the list is down.
            let node_up = node_id.is_none() || node.is_some_and(|n| n.2);
            let (state, health) = match state {
                _ if !node_up => (TaskState::Exited, Health::Unchecked),
                s if is_done(s) => (TaskState::Exited, Health::Unchecked),
                Some(SwarmState::RUNNING) if checked => (TaskState::Running, Health::Healthy),
                Some(SwarmState::RUNNING) => (TaskState::Running, Health::Unchecked),
                // Placed and starting, or waiting for a node: live, not serving yet.
                _ => (TaskState::Running, Health::Starting),
            };
            // Launched when the service was made or last relaunched (its only updates), in the
            // order this backend made them; the task itself is made by Swarm a moment later, in
            // an order of its own.
            let launched = time_of(&s.updated_at)
                .or_else(|| time_of(&s.created_at))
                .unwrap_or(0.0);
            let created = current
                .and_then(|t| time_of(&t.created_at))
                .unwrap_or(launched);
            let ended = current
                .and_then(|t| t.status.as_ref())
                .and_then(|st| time_of(&st.timestamp))
                .unwrap_or(created);
            let port = label(LABEL_PORT).parse().ok().or_else(|| {
                current
                    .and_then(|t| t.status.as_ref())
                    .and_then(|st| st.port_status.as_ref())
                    .and_then(|p| p.ports.as_ref())
                    .and_then(|ports| ports.iter().find_map(|p| p.published_port))
                    .and_then(|p| u16::try_from(p).ok())
            });
            seen.tasks.insert(
                id.clone(),
                TaskFacts {
                    // Where it runs, or, not assigned yet, where it was placed.
                    node: match (state, node_id) {
                        (TaskState::Exited, _) => None,
                        (_, Some(id)) => Some(id.to_string()),
                        (_, None) => labels.get(LABEL_PLACED).cloned(),
                    },
                    version: s.version.as_ref().and_then(|v| v.index).unwrap_or(0),
                    lifetime: (created, ended),
                    launched,
                },
            );
            let task = Task {
                id,
                name,
                host: node.map(|n| n.1.clone()).unwrap_or_default(),
                port,
                state,
                health,
                started_at: launched as i64,
                restarts: label(LABEL_RESTARTS).parse().unwrap_or(0),
            };
            apps.entry(app_id.clone())
                .or_insert_with(|| App {
                    id: app_id,
                    service: label(LABEL_SERVICE),
                    instance: label(LABEL_INSTANCE),
                    git_sha: label(LABEL_SHA),
                    config_hash: label(LABEL_CONFIG),
                    tasks: Vec::new(),
                })
                .tasks
                .push(task);
        }
        // Oldest first, to the nanosecond: tasks launched in one step share their second, and
        // "keep the oldest" must not fall back on names.
        let mut apps: Vec<App> = apps.into_values().collect();
        let created = |t: &Task| seen.tasks.get(&t.id).map_or(0.0, |f| f.launched);
        for app in &mut apps {
            app.tasks.sort_by(|a, b| {
                created(a)
                    .total_cmp(&created(b))
                    .then_with(|| a.name.cmp(&b.name))
            });
        }
        *self.seen.lock().expect("seen") = seen;
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
        let constraints: Vec<Vec<String>> = spec
            .definition
            .get("constraints")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| {
                err(format!(
                    "{}.{}: constraints: {e}",
                    spec.service, spec.instance
                ))
            })?
            .unwrap_or_default();
        let rules = Rules::parse(&constraints)
            .map_err(|e| err(format!("{}.{}: {e}", spec.service, spec.instance)))?;
        let tasks: &[Task] = app.map_or(&[], |a| &a.tasks);
        // Nothing to do costs no call: the facts (nodes, when ended tasks ran) are wanted only
        // for ended tasks and launches.
        let live = tasks.iter().filter(|t| t.is_live()).count();
        if live == tasks.len() && live >= count {
            return Ok(Vec::new());
        }
        let seen = self.seen(tasks).await?;
        let facts = |t: &Task| seen.tasks.get(&t.id).cloned().unwrap_or_default();
        let mut placed: Vec<String> = tasks.iter().filter_map(|t| facts(t).node).collect();

        let steps = keep(tasks, |t| facts(t).lifetime, count, now, spec.backoff);
        let app_id = || spec.id.clone();
        let mut actions = Vec::new();
        for step in steps {
            actions.push(match step {
                // Swarm starts what it placed and fails unhealthy tasks itself: no task is
                // ever seen staged or unhealthy here.
                Step::Start(_) | Step::StopUnhealthy(_) => continue,
                Step::Clear(t) => {
                    if !dry_run {
                        self.delete(&t.id, &t.name).await?;
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
                Step::Relaunch(..) | Step::Launch => {
                    let (crashed, restarts) = match step {
                        Step::Relaunch(t, restarts) => (Some(t), restarts),
                        _ => (None, 0),
                    };
                    let p = match rules.place(&seen.nodes, &placed) {
                        Ok(p) => p,
                        Err(reason) => {
                            actions.push(Action::Unplaced {
                                app: app_id(),
                                reason,
                            });
                            continue;
                        }
                    };
                    placed.push(p.clone());
                    let task = if dry_run {
                        None
                    } else {
                        Some(self.start_task(spec, crashed, restarts, p, &seen).await?)
                    };
                    match crashed {
                        Some(t) => Action::Relaunch {
                            app: app_id(),
                            crashed: t.name.clone(),
                            task,
                            restarts,
                        },
                        None => Action::Launch {
                            app: app_id(),
                            task,
                        },
                    }
                }
            });
        }
        Ok(actions)
    }

    async fn kill_task(&self, _app: &App, task: &Task) -> Result<()> {
        self.delete(&task.id, &task.name).await
    }

    async fn delete_app(&self, app: &App) -> Result<()> {
        for t in &app.tasks {
            self.delete(&t.id, &t.name).await?;
        }
        Ok(())
    }

    async fn runs(&self) -> Result<Vec<Run>> {
        let (services, tasks) = futures_util::try_join!(self.services("run"), self.tasks(None))?;
        let mut runs = Vec::new();
        for s in &services {
            let labels = labels_of(s);
            let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
            let number = |k: &str| labels.get(k).and_then(|v| v.parse::<i64>().ok());
            let id = s.id.clone().unwrap_or_default();
            let mine: Vec<&bollard::models::Task> = tasks
                .get(&id)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let (Some(kind), Some(due)) =
                (RunKind::parse(&label(LABEL_RUN_KIND)), number(LABEL_DUE))
            else {
                continue;
            };
            let created_ms = time_of(&s.created_at).map_or(0, |t| (t * 1000.0) as i64);
            runs.push(Run {
                id,
                name: s
                    .spec
                    .as_ref()
                    .and_then(|sp| sp.name.clone())
                    .unwrap_or_default(),
                service: label(LABEL_SERVICE),
                instance: label(LABEL_INSTANCE),
                job: label(LABEL_JOB),
                kind,
                due,
                attempt: number(LABEL_ATTEMPT).unwrap_or(0) as u32,
                started_ms: number(LABEL_STARTED).unwrap_or(created_ms),
                git_sha: label(LABEL_SHA),
                outcome: outcome_of(&labels, current_task(&mine)),
            });
        }
        runs.sort_by(|a, b| (a.started_ms, &a.name).cmp(&(b.started_ms, &b.name)));
        Ok(runs)
    }

    async fn launch_run(&self, spec: &RunSpec, record: Option<Outcome>) -> Result<Run> {
        let what = match record {
            Some(_) => "record",
            None => spec.kind.as_str(),
        };
        let name = service_name(
            &format!("paasta-{what}"),
            &format!(
                "{}.{}-{}-{}",
                spec.service,
                spec.instance,
                crate::docker::compact_time(spec.due),
                spec.attempt
            ),
        );
        let run = Run {
            id: String::new(),
            name: name.clone(),
            service: spec.service.clone(),
            instance: spec.instance.clone(),
            job: spec.job.clone(),
            kind: spec.kind,
            due: spec.due,
            attempt: spec.attempt,
            started_ms: spec.started_ms,
            git_sha: spec.git_sha.clone(),
            outcome: record.unwrap_or(Outcome::Running),
        };
        let mut labels = Swarm::run_labels(&run, &spec.cluster);
        let service = match record {
            Some(r) => {
                let (label, count) = match r {
                    Outcome::Missed { count } => ("missed", count),
                    Outcome::Skipped { count } => ("skipped", count),
                    Outcome::Held => ("held", 1),
                    other => return Err(err(format!("{other:?} is not a record"))),
                };
                labels.push((LABEL_RECORD.to_string(), label.to_string()));
                labels.push((LABEL_COUNT.to_string(), count.to_string()));
                self.holder(&name, &spec.container.image, labels)
            }
            None => {
                let mut c = spec.container.clone();
                c.labels.extend(labels.iter().cloned());
                ServiceSpec {
                    name: Some(name.clone()),
                    labels: Some(labels.into_iter().collect()),
                    task_template: Some(self.task_template(&c)),
                    mode: Some(ServiceSpecMode {
                        replicated_job: Some(ServiceSpecModeReplicatedJob {
                            max_concurrent: Some(1),
                            total_completions: Some(1),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            }
        };
        let id = self.create(service).await?;
        Ok(Run { id, ..run })
    }

    async fn start_run(&self, run: &Run) -> Result<()> {
        Err(err(format!(
            "{} cannot be started: Swarm runs a job when it is created",
            run.name
        )))
    }

    async fn kill_run(&self, run: &Run) -> Result<()> {
        let task = self.current_run_task(run).await?;
        let started = task
            .as_ref()
            .and_then(|t| time_of(&t.created_at))
            .unwrap_or(run.started_ms as f64 / 1000.0);
        let tail = match task.as_ref().and_then(|t| t.id.as_deref()) {
            Some(task_id) => {
                self.count(1);
                self.engine
                    .task_logs_tail(task_id, KEPT_LINES)
                    .await
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };
        let mut output = tail.join("\n");
        // Labels travel in every listing: keep the result's output short.
        if output.len() > 4096 {
            let cut = output.len() - 4096;
            let cut = (cut..output.len())
                .find(|i| output.is_char_boundary(*i))
                .unwrap_or(cut);
            output = output[cut..].to_string();
        }
        let mut labels = Swarm::run_labels(run, &self.cluster);
        labels.extend([
            (LABEL_EXIT_CODE.to_string(), "137".to_string()),
            (LABEL_STARTED_AT.to_string(), rfc3339(started)),
            (LABEL_FINISHED_AT.to_string(), rfc3339(now_s())),
            (LABEL_OUTPUT.to_string(), output),
        ]);
        let image = task
            .as_ref()
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.container_spec.as_ref())
            .and_then(|c| c.image.clone())
            .unwrap_or_else(|| "scratch".into());
        // The result first: a failure between the two leaves the run, never nothing.
        let name = service_name(
            "paasta-killed",
            &run.name["paasta-".len().min(run.name.len())..],
        );
        self.create(self.holder(&name, &image, labels)).await?;
        self.delete(&run.id, &run.name).await
    }

    async fn remove_run(&self, run: &Run) -> Result<()> {
        self.delete(&run.id, &run.name).await
    }

    async fn wait_run(&self, run: &Run) -> Result<i64> {
        loop {
            match self.current_run_task(run).await? {
                Some(t) => {
                    let state = t.status.as_ref().and_then(|s| s.state.as_ref());
                    if state == Some(&SwarmState::COMPLETE) {
                        return Ok(0);
                    }
                    if is_done(state) {
                        return Ok(exit_code_of(&t).unwrap_or(-1));
                    }
                }
                None => {
                    // No task yet, or no job any more (killed or removed meanwhile).
                    if let Err(e) = self.inspect(&run.id).await {
                        return Err(err(format!("waiting for {}: {}", run.name, e.message)));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn run_detail(&self, run: &Run, tail: usize) -> Result<RunDetail> {
        if let Outcome::Failed { exit_code } = run.outcome {
            // A killed run's result service: what it carries.
            let s = self.inspect(&run.id).await?;
            let labels = labels_of(&s);
            if labels.contains_key(LABEL_EXIT_CODE) {
                let started = labels.get(LABEL_STARTED_AT).cloned();
                let finished = labels.get(LABEL_FINISHED_AT).cloned();
                let lines: Vec<String> = labels
                    .get(LABEL_OUTPUT)
                    .map(|o| o.lines().map(str::to_string).collect())
                    .unwrap_or_default();
                return Ok(RunDetail {
                    exit_code: Some(exit_code),
                    duration_s: match (time_of(&started), time_of(&finished)) {
                        (Some(s), Some(f)) => Some((f - s).max(0.0)),
                        _ => None,
                    },
                    started_at: started,
                    finished_at: finished,
                    output_tail: lines[lines.len().saturating_sub(tail)..].to_vec(),
                });
            }
        }
        if run.outcome.is_record() {
            return Ok(RunDetail::default());
        }
        let task = self.current_run_task(run).await?;
        let Some(t) = task else {
            return Ok(RunDetail::default());
        };
        let state = t.status.as_ref().and_then(|s| s.state.as_ref());
        let done = is_done(state);
        let started = time_of(&t.created_at);
        let finished = done
            .then(|| t.status.as_ref().and_then(|s| time_of(&s.timestamp)))
            .flatten();
        let output_tail = match (&t.id, tail) {
            (Some(id), n) if n > 0 => {
                self.count(1);
                self.engine.task_logs_tail(id, n).await.map_err(err)?
            }
            _ => Vec::new(),
        };
        Ok(RunDetail {
            exit_code: done.then(|| {
                if state == Some(&SwarmState::COMPLETE) {
                    0
                } else {
                    exit_code_of(&t).unwrap_or(-1)
                }
            }),
            started_at: started.map(rfc3339),
            finished_at: finished.map(rfc3339),
            duration_s: match (started, finished) {
                (Some(s), Some(f)) => Some((f - s).max(0.0)),
                (Some(s), None) => Some(now_s() - s),
                _ => None,
            },
            output_tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_dns_labels() {
        let n = service_name("paasta", "order--api.canary--eu.gitcccccccc.config22ba95b5");
        assert!(n.len() <= 63, "{n}");
        assert!(
            n.starts_with("paasta-order--api-canary--eu-gitcccccccc-config22ba95b"),
            "{n}"
        );
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        assert!(n.chars().all(ok), "{n}");
        let n = service_name("paasta-run", &"x.".repeat(60));
        assert!(n.len() <= 63 && !n.contains("--"), "{n}");
    }
}
