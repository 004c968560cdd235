//! `setup-service`: moves a cluster's long-running (marathon-type) instances toward what
//! soa-configs and deployments.json say should run. Run from cron every minute on a master;
//! each run does one safe step per instance and says what it did:
//!
//! - the app to run is PaaSTA's (shared/reference §3): its id carries the git sha and the config
//!   hash of the Marathon app definition, so a new image, a config change or a new force_bounce
//!   makes a new app, and a new instance count does not;
//! - `desired_state: stop` brings the instance to 0 tasks; otherwise the new app is kept at
//!   `instances` tasks (crashed ones relaunched after a backoff, unhealthy ones replaced), and
//!   old apps are bounced away with the instance's `bounce_method` (§4): old tasks are drained
//!   with its `drain_method` (§5) and killed only once the method calls them safe to kill; a
//!   new task counts as happy once it passes its health check and has been up
//!   `bounce_health_params.min_task_uptime` seconds (default 0);
//! - one lock per instance: a second run skips (or waits, `--lock-wait`) instead of fighting;
//!   killed at any moment, the next run reads the state back from the cluster and goes on.
//!
//! Reads: soa-configs, deployments.json, the system config (cluster, registry, volumes, Sensu).
//! Acts on: the cluster through a backend (`docker`: the local engine). Writes: lock files.
//! stdout: one JSON line per instance.

use anyhow::{anyhow, bail, Result};
use clap::Parser;
use cluster::bounce::{self, Method, Situation};
use cluster::drain::{DrainMethod, DrainTask};
use cluster::http::Timeouts;
use cluster::{Action, App, AppSpec, Backend, Backoff, Task, TaskState};
use futures_util::StreamExt;
use serde_json::{json, Value as Json};
use soa::deployments::Deployments;
use soa::select::{Failure, Selected};
use soa::{InstanceType, SystemConfig};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const EXAMPLES: &str = "\
Examples:
  setup-service --all                       # every long-running instance of this cluster
  setup-service example_service.main --dry-run
  setup-service -c prod -d /nail/etc/services shopfront.main shopfront.canary";

/// Move long-running instances toward what soa-configs and deployments.json say should run.
///
/// Each run takes one safe step per instance: create the new app, keep it at its instance
/// count, drain and kill old tasks as its bounce method allows, delete emptied old apps. Run it
/// again (cron, every minute) until no bounce is in progress.
#[derive(Debug, Parser)]
#[command(name = "setup-service", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The soa-configs root.
    #[arg(short = 'd', long = "soa-dir", env = "SOA_DIR", default_value = soa::service::DEFAULT_SOA_DIR)]
    pub soa_dir: PathBuf,

    /// The cluster (default: the system config's `cluster`).
    #[arg(short = 'c', long)]
    pub cluster: Option<String>,

    /// Where the cluster runs: docker (this host's engine), or snapshot:FILE (a saved state,
    /// read-only: with --dry-run only).
    #[arg(long, default_value = "docker", value_name = "BACKEND")]
    pub backend: String,

    /// Say what would be done (same JSON lines), change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Every long-running instance of the cluster; apps of instances no longer configured are
    /// removed.
    #[arg(long, conflicts_with = "instances")]
    pub all: bool,

    /// The instances to set up.
    #[arg(value_name = "SERVICE.INSTANCE", required_unless_present = "all")]
    pub instances: Vec<String>,

    /// Where the per-instance lock files live.
    #[arg(
        long,
        env = "SETUP_SERVICE_LOCK_DIR",
        default_value = "/run/lock/setup-service"
    )]
    pub lock_dir: PathBuf,

    /// Seconds to wait for an instance another run holds, before skipping it.
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub lock_wait: f64,

    /// Send setup_service.<service>.<instance> events to this Sensu client (default: the system
    /// config's sensu_host and sensu_port; none configured, none sent).
    #[arg(long, value_name = "HOST:PORT")]
    pub sensu: Option<String>,

    /// Seconds to wait for the Docker engine to answer.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub engine_timeout: f64,

    /// Seconds a drain endpoint has to accept a connection, and to answer.
    #[arg(long, default_value = "5,15", value_name = "CONNECT,TOTAL")]
    pub drain_timeouts: String,

    /// How many instances are worked on at once.
    #[arg(short = 'j', long, default_value_t = 8)]
    pub jobs: usize,

    /// Each action on stderr as it is taken, and the number of backend calls.
    #[arg(short, long)]
    pub verbose: bool,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "OUTPUT",
        "One JSON line per instance: {service, instance, app_id, desired, happy, actions, \
         bounce_in_progress, bounce_again_in_s}, plus error when the instance could not be loaded \
         or acted on, and skipped when another run holds its lock. Each action is an object with \
         an action key: launch, relaunch, backoff, stop_unhealthy, start, clear, drain, kill, \
         wait_drain, delete_app.",
    ),
    (
        "EXIT STATUS",
        "0\tevery instance was set up (or skipped because another run holds it)\n\
         1\tat least one instance could not be loaded or acted on; the others were still set up\n\
         2\tnothing was done: bad usage, no cluster, an unreachable Docker engine",
    ),
    (
        "ENVIRONMENT",
        "SOA_DIR\tthe soa-configs root (-d)\n\
         PAASTA_SYSTEM_CONFIG_DIR\tthe system config directory (default /etc/paasta)\n\
         SETUP_SERVICE_LOCK_DIR\tthe lock directory (--lock-dir)\n\
         DOCKER_HOST\tthe Docker engine (default unix:///var/run/docker.sock)",
    ),
    (
        "FILES",
        "<SOA_DIR>/<SERVICE>/marathon-<CLUSTER>.yaml\tthe long-running instances\n\
         <SOA_DIR>/<SERVICE>/deployments.json\tthe image and desired state of each instance\n\
         $PAASTA_SYSTEM_CONFIG_DIR/*.json\tcluster, docker_registry, volumes, sensu_host, sensu_port\n\
         <LOCK_DIR>/<SERVICE>.<INSTANCE>.lock\tthe instance's lock",
    ),
    ("EXAMPLES", EXAMPLES),
];

/// What one instance should be, computed from its configs alone.
struct Plan {
    selected: Selected,
    spec: AppSpec,
    desired: usize,
    method: Method,
    margin: f64,
    /// `bounce_health_params.min_task_uptime`: a new task counts as happy only after this long.
    min_task_uptime: f64,
    drain: DrainMethod,
    registrations: Vec<String>,
}

/// The result line of one instance.
#[derive(Debug, Default)]
struct Outcome {
    service: String,
    instance: String,
    app_id: Option<String>,
    desired: usize,
    happy: usize,
    actions: Vec<Action>,
    bounce_in_progress: bool,
    error: Option<String>,
    skipped: Option<String>,
}

impl Outcome {
    fn to_json(&self) -> Json {
        let mut out = json!({
            "service": self.service,
            "instance": self.instance,
            "app_id": self.app_id,
            "desired": self.desired,
            "happy": self.happy,
            "actions": self.actions,
            "bounce_in_progress": self.bounce_in_progress,
            "bounce_again_in_s": if self.bounce_in_progress { json!(60) } else { Json::Null },
        });
        if let Some(e) = &self.error {
            out["error"] = json!(e);
        }
        if let Some(s) = &self.skipped {
            out["skipped"] = json!(s);
        }
        out
    }

    fn failed(f: &Failure) -> Outcome {
        Outcome {
            service: f.service.clone(),
            instance: f.instance.clone().unwrap_or_default(),
            error: Some(f.message.clone()),
            ..Default::default()
        }
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn parse_timeouts(s: &str) -> Result<Timeouts> {
    let bad = || anyhow!("--drain-timeouts {s:?}: expected CONNECT,TOTAL in seconds, e.g. 5,15");
    let (c, t) = s.split_once(',').ok_or_else(bad)?;
    let secs = |v: &str| -> Result<Duration> {
        let n: f64 = v.trim().parse().map_err(|_| bad())?;
        Duration::try_from_secs_f64(n).map_err(|_| bad())
    };
    Ok(Timeouts {
        connect: secs(c)?,
        total: secs(t)?,
    })
}

fn yaml_to_json(v: &serde_yaml::Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// Marathon runs `cmd` through a shell (a list joined with spaces, as PaaSTA sends it), else
/// the image's entrypoint with `args`.
fn task_command(config: &soa::InstanceConfig) -> Vec<String> {
    match (&config.cmd, &config.args) {
        (Some(cmd), _) => vec!["sh".into(), "-c".into(), cmd.joined()],
        (None, Some(args)) => args.clone(),
        (None, None) => Vec::new(),
    }
}

fn plan(
    selected: Selected,
    system: &SystemConfig,
    soa_dir: &std::path::Path,
    timeouts: Timeouts,
    deployments: &mut HashMap<String, Result<Option<Deployments>, String>>,
) -> Result<Plan, String> {
    let service = &selected.service;
    let config = &selected.config;
    let where_ = format!("{}.{}", config.service, config.instance);
    let deployments = deployments
        .entry(config.service.clone())
        .or_insert_with(|| Deployments::load(soa_dir, &config.service).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)?
        .as_ref()
        .ok_or_else(|| {
            format!(
                "no deployments.json for {} in {} (run generate-deployments -s {})",
                config.service,
                soa::deployments::path_for(soa_dir, &config.service).display(),
                config.service
            )
        })?;
    let deployment = deployments.deployment(&config.deploy_group).ok_or_else(|| {
        format!(
            "{where_}: its deploy group {} has no deployment in {} (no paasta-{}-<timestamp>-deploy tag yet?)",
            config.deploy_group,
            soa::deployments::path_for(soa_dir, &config.service).display(),
            config.deploy_group
        )
    })?;
    let control = deployments.control(&config.service, &config.cluster, &config.instance);
    let stopped = control.is_some_and(|c| c.desired_state == "stop");
    let force_bounce = control.and_then(|c| c.force_bounce.as_deref());
    let image = service.image_ref(system, &deployment.docker_image);
    let app = soa::marathon::app(service, config, system, &image, force_bounce)
        .map_err(|p| p.to_string())?;
    let system_volumes = system.volumes().map_err(|e| e.to_string())?;
    let (container, warnings) = container::spec::build(
        config,
        container::SpecOptions {
            image: image.clone(),
            command: task_command(config),
            system_volumes,
            monitoring_team: service.monitoring_team(config),
            detach: true,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    for w in warnings {
        eprintln!("setup-service: {where_}: warning: {w}");
    }
    let number = |key: &str, default: f64| {
        app.definition
            .get(key)
            .and_then(Json::as_f64)
            .unwrap_or(default)
    };
    let backoff = Backoff {
        seconds: number("backoff_seconds", 1.0),
        factor: number("backoff_factor", 2.0),
        max: number("max_launch_delay_seconds", 300.0),
    };
    let get = |k: &str| config.config.get(k);
    let method_name = get("bounce_method")
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or("crossover");
    let method = Method::parse(method_name).ok_or_else(|| {
        format!(
            "{}: {where_}: bounce_method is {method_name:?}, expected crossover, brutal, upthendown or downthenup",
            config.file.display()
        )
    })?;
    let margin = get("bounce_margin_factor")
        .and_then(serde_yaml::Value::as_f64)
        .unwrap_or(1.0);
    if !(margin > 0.0 && margin <= 1.0) {
        return Err(format!(
            "{}: {where_}: bounce_margin_factor is {margin}, expected a number in (0, 1]",
            config.file.display()
        ));
    }
    // PaaSTA drains through hacheck by default only when the instance is in the load
    // balancer (its smartstack namespace has a proxy_port).
    let namespace = soa::marathon::namespace(config);
    let in_smartstack = service
        .smartstack
        .as_ref()
        .and_then(|s| s.map.get(namespace.as_str()))
        .and_then(|n| n.get("proxy_port"))
        .is_some_and(|p| !p.is_null());
    let drain_name = get("drain_method")
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or(if in_smartstack { "hacheck" } else { "noop" });
    let params = get("drain_method_params")
        .map(yaml_to_json)
        .and_then(|j| j.as_object().cloned())
        .unwrap_or_default();
    let drain = DrainMethod::from_config(drain_name, &params, timeouts)
        .map_err(|e| format!("{}: {where_}: {e}", config.file.display()))?;
    let registrations = match get("registrations").and_then(serde_yaml::Value::as_sequence) {
        Some(r) => r
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        None => vec![format!("{}.{namespace}", config.service)],
    };
    let min_task_uptime = get("bounce_health_params")
        .and_then(|p| p.get("min_task_uptime"))
        .and_then(serde_yaml::Value::as_f64)
        .unwrap_or(0.0);
    let container_port = get("container_port")
        .and_then(serde_yaml::Value::as_u64)
        .map_or(soa::marathon::CONTAINER_PORT, |p| p as u16);
    let spec = AppSpec {
        id: app.id.clone(),
        service: config.service.clone(),
        instance: config.instance.clone(),
        cluster: config.cluster.clone(),
        git_sha: app.git_sha.clone(),
        config_hash: app.config_hash.clone(),
        definition: app.definition.clone(),
        container,
        container_port,
        health: container::health::probe_for(service, config),
        backoff,
    };
    let desired = if stopped {
        0
    } else {
        config.instances.unwrap_or(1) as usize
    };
    Ok(Plan {
        desired,
        method,
        margin,
        min_task_uptime,
        drain,
        registrations,
        spec,
        selected,
    })
}

fn drain_task(app: &App, task: &Task, registrations: &[String]) -> DrainTask {
    DrainTask::new(
        &app.service,
        &app.instance,
        &task.host,
        task.port.unwrap_or(0),
        registrations.to_vec(),
    )
}

/// Drains, or kills once safe, the given tasks; tasks that have ended are removed without a
/// drain. Errors of the drain method leave the task running and are returned.
async fn retire<B: Backend>(
    backend: &B,
    drain: &DrainMethod,
    tasks: &[(&App, &Task, bool)],
    registrations: &[String],
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let results =
        futures_util::future::join_all(tasks.iter().map(|(app, task, draining)| async move {
            let mut acts = Vec::new();
            let name = || task.name.clone();
            let app_id = || app.id.clone();
            if task.state == TaskState::Exited || task.port.is_none() {
                // Nothing serves from it: no load balancer to drain it from.
                if !dry_run {
                    backend
                        .kill_task(app, task)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                acts.push(Action::Kill {
                    app: app_id(),
                    task: name(),
                });
                return Ok::<_, String>(acts);
            }
            let dt = drain_task(app, task, registrations);
            if !draining {
                if !dry_run {
                    drain
                        .drain(&dt)
                        .await
                        .map_err(|e| format!("draining {}: {e}", task.name))?;
                }
                acts.push(Action::Drain {
                    app: app_id(),
                    task: name(),
                });
                if dry_run {
                    return Ok(acts);
                }
            }
            let safe = drain
                .is_safe_to_kill(&dt)
                .await
                .map_err(|e| format!("asking whether {} is safe to kill: {e}", task.name))?;
            if safe {
                if !dry_run {
                    backend
                        .kill_task(app, task)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                acts.push(Action::Kill {
                    app: app_id(),
                    task: name(),
                });
            } else {
                acts.push(Action::WaitDrain {
                    app: app_id(),
                    task: name(),
                    reason: format!("{} does not call it safe to kill yet", drain.name()),
                });
            }
            Ok(acts)
        }))
        .await;
    for r in results {
        match r {
            Ok(mut a) => actions.append(&mut a),
            Err(e) => errors.push(e),
        }
    }
    errors
}

/// The tasks' draining state per the drain method; a task whose state cannot be read counts as
/// draining (it will be neither kept nor killed on a guess) and its error is returned.
async fn draining_of(
    drain: &DrainMethod,
    tasks: &[(&App, &Task)],
    registrations: &[String],
) -> (Vec<bool>, Vec<String>) {
    let answers = futures_util::future::join_all(tasks.iter().map(|(app, task)| async move {
        if task.port.is_none() || task.state != TaskState::Running {
            return Ok(false);
        }
        let dt = drain_task(app, task, registrations);
        drain
            .is_draining(&dt)
            .await
            .map_err(|e| format!("asking whether {} is draining: {e}", task.name))
    }))
    .await;
    let mut errors = Vec::new();
    let flags = answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|e| {
                errors.push(e);
                true
            })
        })
        .collect();
    (flags, errors)
}

/// One step for one instance.
async fn act<B: Backend>(backend: &B, plan: &Plan, apps: &[&App], dry_run: bool) -> Outcome {
    let config = &plan.selected.config;
    let mut out = Outcome {
        service: config.service.clone(),
        instance: config.instance.clone(),
        app_id: Some(plan.spec.id.clone()),
        desired: plan.desired,
        ..Default::default()
    };
    let mut errors: Vec<String> = Vec::new();
    let target = apps.iter().copied().find(|a| a.id == plan.spec.id);
    let old: Vec<&App> = apps
        .iter()
        .copied()
        .filter(|a| a.id != plan.spec.id)
        .collect();
    let started_before = now() - plan.min_task_uptime;
    out.happy = target.map_or(0, |a| {
        a.tasks
            .iter()
            .filter(|t| t.is_happy() && t.started_at as f64 <= started_before)
            .count()
    });

    // Tasks to take away: every old one that does not serve, and the bounce's choice of those
    // that do; all of them when the instance is stopped.
    let mut unserving: Vec<(&App, &Task)> = Vec::new();
    let mut old_serving: Vec<(&App, &Task)> = Vec::new();
    for app in &old {
        for t in &app.tasks {
            if t.is_happy() && plan.desired > 0 {
                old_serving.push((app, t));
            } else {
                unserving.push((app, t));
            }
        }
    }
    let (draining, mut errs) = draining_of(&plan.drain, &old_serving, &plan.registrations).await;
    errors.append(&mut errs);
    let (already, non_draining): (Vec<_>, Vec<_>) =
        old_serving.iter().zip(draining).partition(|(_, d)| *d);
    let decision = bounce::decide(
        plan.method,
        Situation {
            instances: plan.desired,
            new_app_running: target.is_some(),
            happy_new: out.happy,
            old_non_draining: non_draining.len(),
            margin: plan.margin,
        },
    );
    if plan.desired > 0 && (target.is_some() || decision.create_new_app) {
        match backend
            .reconcile(&plan.spec, target, plan.desired, now(), dry_run)
            .await
        {
            Ok(mut a) => out.actions.append(&mut a),
            Err(e) => errors.push(e.to_string()),
        }
    }

    // The new app's own tasks beyond the instance count (scaled down, or stopped): the least
    // useful first, the unhappy, then the newest.
    if let Some(app) = target {
        let mut live: Vec<&Task> = app.tasks.iter().filter(|t| t.is_live()).collect();
        live.sort_by_key(|t| (!t.is_happy(), t.started_at));
        unserving.extend(live.into_iter().skip(plan.desired).map(|t| (app, t)));
        if plan.desired == 0 {
            unserving.extend(app.tasks.iter().filter(|t| !t.is_live()).map(|t| (app, t)));
        }
    }
    // Only the tasks whose draining state is not known yet are asked.
    let (draining_now, mut errs) = draining_of(&plan.drain, &unserving, &plan.registrations).await;
    errors.append(&mut errs);
    let mut work: Vec<(&App, &Task, bool)> = unserving
        .iter()
        .zip(draining_now)
        .map(|((a, t), d)| (*a, *t, d))
        .collect();
    let keep = decision.keep_old.min(non_draining.len());
    work.extend(
        non_draining[keep..]
            .iter()
            .map(|((a, t), _)| (*a, *t, false)),
    );
    work.extend(already.iter().map(|((a, t), _)| (*a, *t, true)));
    let before = out.actions.len();
    errors.append(
        &mut retire(
            backend,
            &plan.drain,
            &work,
            &plan.registrations,
            dry_run,
            &mut out.actions,
        )
        .await,
    );
    // An old app whose every task was killed in this step is gone; say so, and remove what
    // the backend may keep of it.
    let killed: HashSet<String> = out.actions[before..]
        .iter()
        .filter_map(|a| match a {
            Action::Kill { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect();
    let mut remaining_old = 0;
    for app in &old {
        let left = app
            .tasks
            .iter()
            .filter(|t| !killed.contains(&t.name))
            .count();
        if left == 0 {
            if !dry_run {
                if let Err(e) = backend.delete_app(app).await {
                    errors.push(e.to_string());
                }
            }
            out.actions.push(Action::DeleteApp {
                app: app.id.clone(),
            });
        }
        remaining_old += left;
    }
    // The new app's own extra tasks still waiting for their drain.
    let remaining_extra = work
        .iter()
        .filter(|(a, t, _)| {
            Some(a.id.as_str()) == target.map(|x| x.id.as_str()) && !killed.contains(&t.name)
        })
        .count();
    out.bounce_in_progress = remaining_old > 0 || remaining_extra > 0;
    if !errors.is_empty() {
        out.error = Some(errors.join("; "));
    }
    out
}

/// Apps of an instance no longer configured (--all): killed without draining, as there is no
/// config left to say how.
async fn remove_orphan<B: Backend>(
    backend: &B,
    service: &str,
    instance: &str,
    apps: &[&App],
    dry_run: bool,
) -> Outcome {
    let mut out = Outcome {
        service: service.to_string(),
        instance: instance.to_string(),
        ..Default::default()
    };
    let mut errors = Vec::new();
    for app in apps {
        if !dry_run {
            if let Err(e) = backend.delete_app(app).await {
                errors.push(e.to_string());
                continue;
            }
        }
        out.actions.push(Action::DeleteApp {
            app: app.id.clone(),
        });
    }
    if !errors.is_empty() {
        out.error = Some(errors.join("; "));
    }
    out
}

fn sensu_event(plan: &Plan, out: &Outcome) -> Option<Json> {
    let name = format!("setup_service.{}.{}", out.service, out.instance);
    let (status, text) = match &out.error {
        Some(e) => (
            soa::sensu::CRITICAL,
            format!(
                "setup-service could not set up {}.{}: {e}",
                out.service, out.instance
            ),
        ),
        None => (
            soa::sensu::OK,
            format!(
                "{}.{} is set up: app {}, {} of {} tasks happy{}",
                out.service,
                out.instance,
                out.app_id.as_deref().unwrap_or("-"),
                out.happy,
                out.desired,
                if out.bounce_in_progress {
                    ", bounce in progress"
                } else {
                    ""
                }
            ),
        ),
    };
    soa::sensu::event(
        &plan.selected.service,
        &plan.selected.config,
        name,
        status,
        text,
    )
    .map(|e| e.to_json())
}

enum Work {
    Plan(Box<Plan>, Option<cluster::lock::InstanceLock>),
    Skipped(Outcome),
    Failed(Outcome),
    Orphan(String, String),
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let system = SystemConfig::load(&soa::system::default_dir())?;
    let cluster = system
        .cluster_or(cli.cluster.as_deref())
        .map_err(|e| anyhow!(e))?;
    let timeouts = parse_timeouts(&cli.drain_timeouts)?;
    if cli.jobs == 0 {
        bail!("-j must be at least 1");
    }
    let selection = soa::select::select(
        &cli.soa_dir,
        &cluster,
        InstanceType::Marathon,
        &cli.instances,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let backend = cluster::open(
            &cli.backend,
            &cluster,
            Duration::from_secs_f64(cli.engine_timeout),
        )
        .await?;
        if backend.read_only() && !cli.dry_run {
            bail!(
                "--backend {}: a saved state can only be used with --dry-run",
                cli.backend
            );
        }
        let code = execute(&cli, &system, selection, timeouts, &backend).await;
        if let (true, Some(n)) = (cli.verbose, backend.api_calls()) {
            eprintln!("setup-service: {n} Engine API calls");
        }
        code
    })
}

async fn execute<B: Backend>(
    cli: &Cli,
    system: &SystemConfig,
    selection: soa::select::Selection,
    timeouts: Timeouts,
    backend: &B,
) -> Result<ExitCode> {
    let mut deployments = HashMap::new();
    let mut work: Vec<Work> = Vec::new();
    let lock_wait = Duration::try_from_secs_f64(cli.lock_wait)
        .map_err(|_| anyhow!("--lock-wait {}: expected seconds", cli.lock_wait))?;
    let mut configured: HashSet<(String, String)> = HashSet::new();
    for s in &selection.selected {
        configured.insert((s.config.service.clone(), s.config.instance.clone()));
    }
    for f in &selection.failures {
        if let Some(i) = &f.instance {
            configured.insert((f.service.clone(), i.clone()));
        }
        work.push(Work::Failed(Outcome::failed(f)));
    }
    for selected in selection.selected {
        let (service, instance) = (
            selected.config.service.clone(),
            selected.config.instance.clone(),
        );
        let lock = if cli.dry_run {
            None
        } else {
            match cluster::lock::acquire(&cli.lock_dir, &service, &instance, lock_wait) {
                Ok(Some(l)) => Some(l),
                Ok(None) => {
                    work.push(Work::Skipped(Outcome {
                        service,
                        instance,
                        skipped: Some(format!(
                            "another setup-service run holds {}",
                            cli.lock_dir
                                .join(format!(
                                    "{}.{}.lock",
                                    selected.config.service, selected.config.instance
                                ))
                                .display()
                        )),
                        ..Default::default()
                    }));
                    continue;
                }
                Err(e) => bail!(e),
            }
        };
        match plan(selected, system, &cli.soa_dir, timeouts, &mut deployments) {
            Ok(p) => work.push(Work::Plan(Box::new(p), lock)),
            Err(e) => work.push(Work::Failed(Outcome {
                service,
                instance,
                error: Some(e),
                ..Default::default()
            })),
        }
    }
    // What runs is read after the locks are held, so no other run changes it under us.
    let apps = backend.apps().await?;
    if cli.all {
        let mut orphans: Vec<(String, String)> = apps
            .iter()
            .filter(|a| !configured.contains(&(a.service.clone(), a.instance.clone())))
            .filter(|a| !selection.unreadable_services.contains(&a.service))
            .map(|a| (a.service.clone(), a.instance.clone()))
            .collect();
        orphans.dedup();
        for (service, instance) in orphans {
            work.push(Work::Orphan(service, instance));
        }
    }
    let sensu = cli.sensu.clone().or_else(|| soa::sensu::address(system));
    let apps_ref = &apps;
    let mut failed = false;
    let mut lines = futures_util::stream::iter(work.into_iter().map(|w| async move {
        match w {
            Work::Plan(plan, lock) => {
                let mine: Vec<&App> = apps_ref
                    .iter()
                    .filter(|a| a.service == plan.spec.service && a.instance == plan.spec.instance)
                    .collect();
                let out = act(backend, &plan, &mine, cli.dry_run).await;
                drop(lock);
                let event = sensu_event(&plan, &out);
                (out, event)
            }
            Work::Orphan(service, instance) => {
                let mine: Vec<&App> = apps_ref
                    .iter()
                    .filter(|a| a.service == service && a.instance == instance)
                    .collect();
                (
                    remove_orphan(backend, &service, &instance, &mine, cli.dry_run).await,
                    None,
                )
            }
            Work::Skipped(out) | Work::Failed(out) => (out, None),
        }
    }))
    .buffered(cli.jobs);
    while let Some((out, event)) = lines.next().await {
        if cli.verbose {
            for a in &out.actions {
                eprintln!(
                    "setup-service: {}.{}: {}",
                    out.service,
                    out.instance,
                    json!(a)
                );
            }
        }
        if let Some(e) = &out.error {
            failed = true;
            eprintln!("setup-service: {}.{}: {e}", out.service, out.instance);
        }
        if let (Some(addr), Some(event), false) = (&sensu, event, cli.dry_run) {
            if let Err(e) = cluster::sensu::send(addr, &event, Duration::from_secs(2)) {
                eprintln!("setup-service: warning: {e}");
            }
        }
        soa::cli::print_json_line(&out.to_json())?;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
