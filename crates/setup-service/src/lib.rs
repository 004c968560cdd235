//! `setup-service`: moves a cluster's long-running (marathon-type) instances toward what
//! soa-configs and deployments.json say should run, and starts the scheduled jobs
//! (chronos-type) that are due. Run from cron every minute on a master; each run does one safe
//! step per instance and says what it did:
//!
//! - the app to run is PaaSTA's (docs/paasta.md §3): its id carries the git sha and the config
//!   hash of the Marathon app definition, so a new image, a config change or a new force_bounce
//!   makes a new app, and a new instance count does not;
//! - `desired_state: stop` brings the instance to 0 tasks; otherwise the new app is kept at
//!   `instances` tasks (crashed ones relaunched after a backoff, unhealthy ones replaced), and
//!   old apps are bounced away with the instance's `bounce_method` (§4): old tasks are drained
//!   with its `drain_method` (§5) and killed only once the method calls them safe to kill; a
//!   new task counts as happy once it passes its health check and has been up
//!   `bounce_health_params.min_task_uptime` seconds (default 0);
//! - a scheduled job starts the run soa::jobs calls due (its schedule in its time zone within
//!   epsilon, or its parents' success; one at a time; retries), with its command's time
//!   variables at the due time; occurrences that did not run are recorded; results are kept a
//!   day (see the `jobs` module);
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
use cluster::spec::Deployed;
use cluster::{Action, App, AppSpec, Backend, Task, TaskState};
use futures_util::StreamExt;
use serde_json::{json, Value as Json};
use soa::deployments::Deployments;
use soa::select::Selected;
use soa::{InstanceType, SystemConfig};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod jobs;

const EXAMPLES: &str = "\
Examples:
  setup-service --all                       # every long-running instance of this cluster
  setup-service example_service.main --dry-run
  setup-service example_service.nightly --now 2026-11-21T03:00:00Z   # replay a due time
  setup-service -c prod -d /nail/etc/services shopfront.main shopfront.canary";

/// Move long-running instances toward what soa-configs and deployments.json say should run,
/// and start the scheduled jobs that are due.
///
/// Each run takes one safe step per instance: create the new app, keep it at its instance
/// count, drain and kill old tasks as its bounce method allows, delete emptied old apps. Run it
/// again (cron, every minute) until no bounce is in progress. For a scheduled job it starts the
/// run that is due (by schedule, or once its parents succeeded), retries a failed one, records
/// occurrences that could not run, and removes results older than a day.
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

    /// Every long-running instance and scheduled job of the cluster; apps of instances no
    /// longer configured are removed.
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

    /// The time scheduled jobs are decided at (RFC 3339, or unix seconds) instead of the clock:
    /// replays a moment, or drives a simulated calendar. Long-running instances keep the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,

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
         wait_drain, delete_app. A scheduled job's line is {service, instance, job, state, next_due, \
         actions}: state is idle, starting, running, waiting_for_parents, disabled or held; its \
         actions are start_run {job, due, attempt, kind, command, run}, start_staged, record \
         {due, result: missed|skipped, count}, expire_run and release_hold.",
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
         <SOA_DIR>/<SERVICE>/chronos-<CLUSTER>.yaml\tthe scheduled jobs\n\
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

/// The deployments.json of a service, read once per run.
type DeploymentsCache = HashMap<String, Result<Option<Deployments>, String>>;

fn deployed_of(
    selected: &Selected,
    system: &SystemConfig,
    soa_dir: &std::path::Path,
    cache: &mut DeploymentsCache,
) -> Result<Deployed, String> {
    let config = &selected.config;
    let deployments = cache
        .entry(config.service.clone())
        .or_insert_with(|| Deployments::load(soa_dir, &config.service).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)?;
    cluster::spec::deployed(
        soa_dir,
        &selected.service,
        config,
        system,
        deployments.as_ref(),
    )
}

fn plan(
    selected: Selected,
    system: &SystemConfig,
    deployed: &Deployed,
    timeouts: Timeouts,
) -> Result<Plan, String> {
    let config = &selected.config;
    let where_ = format!("{}.{}", config.service, config.instance);
    let (spec, warnings) = cluster::spec::app_spec(config, system, deployed)?;
    for w in warnings {
        eprintln!("setup-service: {where_}: warning: {w}");
    }
    let long = config
        .long_running()
        .ok_or_else(|| format!("{where_} is not a long-running instance"))?;
    let method = long.bounce_method;
    let margin = long.bounce_margin_factor;
    let min_task_uptime = long.min_task_uptime;
    let drain = DrainMethod::new(&long.drain, timeouts);
    let registrations = long.registrations.clone();
    let desired = deployed.desired_tasks(config);
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

/// setup_service.<service>.<instance>: CRITICAL with the error, else OK with `ok_text`.
fn sensu_event(selected: &Selected, error: Option<&str>, ok_text: String) -> Option<Json> {
    let config = &selected.config;
    let name = format!("setup_service.{}.{}", config.service, config.instance);
    let (status, text) = match error {
        Some(e) => (
            soa::sensu::CRITICAL,
            format!(
                "setup-service could not set up {}.{}: {e}",
                config.service, config.instance
            ),
        ),
        None => (soa::sensu::OK, ok_text),
    };
    soa::sensu::event(&selected.service, config, name, status, text).map(|e| e.to_json())
}

fn app_ok_text(out: &Outcome) -> String {
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
    )
}

enum Work {
    Plan(Box<Plan>, Option<cluster::lock::InstanceLock>),
    Job(Box<jobs::JobPlan>, Option<cluster::lock::InstanceLock>),
    Skipped(Json),
    Failed(String, String, String),
    Orphan(String, String),
}

/// What one piece of work printed: the line, the instance, its error, verbose actions, an event.
struct Line {
    json: Json,
    name: String,
    error: Option<String>,
    actions: Vec<Action>,
    event: Option<Json>,
}

/// `--now`: RFC 3339 or unix seconds; unix milliseconds.
fn parse_now(s: &str) -> Result<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return Ok((secs * 1000.0) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            anyhow!("--now {s:?}: expected a time such as 2026-11-21T03:00:00Z or unix seconds")
        })
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
    let now_ms = match &cli.now {
        Some(t) => parse_now(t)?,
        None => (now() * 1000.0) as i64,
    };
    let selection = soa::select::select(
        &cli.soa_dir,
        &cluster,
        &[InstanceType::Marathon, InstanceType::Chronos],
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
        let code = execute(&cli, &system, selection, timeouts, now_ms, &backend).await;
        if let (true, Some(n)) = (cli.verbose, backend.api_calls()) {
            eprintln!("setup-service: {n} Engine API calls");
        }
        code
    })
}

fn failed_line(service: &str, instance: &str, error: String) -> Line {
    Line {
        json: Outcome {
            service: service.to_string(),
            instance: instance.to_string(),
            error: Some(error.clone()),
            ..Default::default()
        }
        .to_json(),
        name: format!("{service}.{instance}"),
        error: Some(error),
        actions: Vec::new(),
        event: None,
    }
}

async fn execute<B: Backend>(
    cli: &Cli,
    system: &SystemConfig,
    selection: soa::select::Selection,
    timeouts: Timeouts,
    now_ms: i64,
    backend: &B,
) -> Result<ExitCode> {
    let mut deployments: DeploymentsCache = HashMap::new();
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
        work.push(Work::Failed(
            f.service.clone(),
            f.instance.clone().unwrap_or_default(),
            f.message.clone(),
        ));
    }
    // Jobs whose parents can never all succeed (a cycle, a parent that does not exist) are
    // errors; with named instances, only the parents' existence among the loaded can be known.
    let nodes: Vec<soa::jobs::Node> = selection
        .selected
        .iter()
        .filter(|s| s.config.kind() == InstanceType::Chronos)
        .map(|s| {
            let parents = soa::jobs::parents(&s.config);
            (
                (s.config.service.clone(), s.config.instance.clone()),
                parents,
            )
        })
        .collect();
    let unrunnable = if cli.all {
        soa::jobs::unrunnable(&nodes)
    } else {
        HashMap::new()
    };
    for selected in selection.selected {
        let (service, instance) = (
            selected.config.service.clone(),
            selected.config.instance.clone(),
        );
        if let Some(why) = unrunnable.get(&(service.clone(), instance.clone())) {
            work.push(Work::Failed(
                service,
                instance,
                format!("{}: {why}", selected.config.file.display()),
            ));
            continue;
        }
        let lock = if cli.dry_run {
            None
        } else {
            match cluster::lock::acquire(&cli.lock_dir, &service, &instance, lock_wait) {
                Ok(Some(l)) => Some(l),
                Ok(None) => {
                    let mut line = Outcome {
                        service: service.clone(),
                        instance: instance.clone(),
                        ..Default::default()
                    }
                    .to_json();
                    line["skipped"] = json!(format!(
                        "another setup-service run holds {}",
                        cli.lock_dir
                            .join(format!("{service}.{instance}.lock"))
                            .display()
                    ));
                    work.push(Work::Skipped(line));
                    continue;
                }
                Err(e) => bail!(e),
            }
        };
        let deployed = match deployed_of(&selected, system, &cli.soa_dir, &mut deployments) {
            Ok(d) => d,
            Err(e) => {
                work.push(Work::Failed(service, instance, e));
                continue;
            }
        };
        if selected.config.kind() == InstanceType::Chronos {
            match jobs::plan(selected, deployed) {
                Ok(p) => work.push(Work::Job(Box::new(p), lock)),
                Err(e) => work.push(Work::Failed(service, instance, e)),
            }
            continue;
        }
        match plan(selected, system, &deployed, timeouts) {
            Ok(p) => work.push(Work::Plan(Box::new(p), lock)),
            Err(e) => work.push(Work::Failed(service, instance, e)),
        }
    }
    // What runs is read after the locks are held, so no other run changes it under us.
    let apps = backend.apps().await?;
    let any_jobs = cli.all || work.iter().any(|w| matches!(w, Work::Job(..)));
    let runs = if any_jobs {
        backend.runs().await?
    } else {
        Vec::new()
    };
    if cli.all {
        let mut orphans: Vec<(String, String)> = apps
            .iter()
            .map(|a| (a.service.clone(), a.instance.clone()))
            .chain(
                runs.iter()
                    .filter(|r| !r.outcome.in_flight())
                    .map(|r| (r.service.clone(), r.instance.clone())),
            )
            .filter(|k| !configured.contains(k))
            .filter(|(s, _)| !selection.unreadable_services.contains(s))
            .collect();
        orphans.sort();
        orphans.dedup();
        for (service, instance) in orphans {
            work.push(Work::Orphan(service, instance));
        }
    }
    let index = soa::jobs::RunIndex::new(&runs);
    let expirable: HashSet<&str> = soa::jobs::expiry_candidates(&runs, now_ms)
        .into_iter()
        .map(|r| r.id.as_str())
        .collect();
    let sensu = cli.sensu.clone().or_else(|| soa::sensu::address(system));
    let pass = jobs::Pass::new(&runs, &index, &expirable, now_ms, cli.dry_run);
    let (apps_ref, pass_ref) = (&apps, &pass);
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
                let event = sensu_event(&plan.selected, out.error.as_deref(), app_ok_text(&out));
                Line {
                    json: out.to_json(),
                    name: format!("{}.{}", out.service, out.instance),
                    error: out.error,
                    actions: out.actions,
                    event,
                }
            }
            Work::Job(plan, lock) => {
                let out = jobs::act(backend, &plan, system, pass_ref).await;
                drop(lock);
                let ok = format!(
                    "{}.{} is set up: job {}",
                    out.service,
                    out.instance,
                    json!(out.decision.as_ref().map(|d| d.state))
                        .as_str()
                        .unwrap_or("-")
                );
                let event = sensu_event(&plan.selected, out.error.as_deref(), ok);
                Line {
                    json: out.to_json(),
                    name: format!("{}.{}", out.service, out.instance),
                    error: out.error,
                    actions: out.actions,
                    event,
                }
            }
            Work::Orphan(service, instance) => {
                let mine: Vec<&App> = apps_ref
                    .iter()
                    .filter(|a| a.service == service && a.instance == instance)
                    .collect();
                let mut out = remove_orphan(backend, &service, &instance, &mine, cli.dry_run).await;
                // Results of a job no longer configured go once past keeping.
                let mut errors = Vec::new();
                jobs::expire(
                    backend,
                    pass_ref.runs_of(&service, &instance),
                    pass_ref,
                    &mut out.actions,
                    &mut errors,
                )
                .await;
                if !errors.is_empty() {
                    out.error = Some(errors.join("; "));
                }
                Line {
                    json: out.to_json(),
                    name: format!("{service}.{instance}"),
                    error: out.error,
                    actions: out.actions,
                    event: None,
                }
            }
            Work::Skipped(json) => Line {
                name: format!(
                    "{}.{}",
                    json["service"].as_str().unwrap_or(""),
                    json["instance"].as_str().unwrap_or("")
                ),
                json,
                error: None,
                actions: Vec::new(),
                event: None,
            },
            Work::Failed(service, instance, e) => failed_line(&service, &instance, e),
        }
    }))
    .buffered(cli.jobs);
    while let Some(line) = lines.next().await {
        if cli.verbose {
            for a in &line.actions {
                eprintln!("setup-service: {}: {}", line.name, json!(a));
            }
        }
        if let Some(e) = &line.error {
            failed = true;
            eprintln!("setup-service: {}: {e}", line.name);
        }
        if let (Some(addr), Some(event), false) = (&sensu, line.event, cli.dry_run) {
            if let Err(e) = cluster::sensu::send(addr, &event, Duration::from_secs(2)) {
                eprintln!("setup-service: warning: {e}");
            }
        }
        soa::cli::print_json_line(&line.json)?;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
