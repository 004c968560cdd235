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
use cluster::{App, Backend};
use container::http::Timeouts;
use futures_util::StreamExt;
use soa::{InstanceType, SystemConfig};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod apps;
mod chronos;
mod jobs;
mod output;
mod plan;

use apps::now;
use output::{app_ok_text, failed_line, sensu_event, Line, Outcome, Record};
use plan::{deployed_of, plan, DeploymentsCache, Plan};

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
    #[command(flatten)]
    pub master: cli::MasterArgs,

    /// Say what would be done (same JSON lines), change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run on Marathon or Chronos: instead of the instance lines, print each create
    /// or update as it would be sent, one JSON line per request ({method, path, body}), to
    /// diff with what runs.
    #[arg(long, requires = "dry_run")]
    pub show_definitions: bool,

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
    #[arg(long, default_value = "0", value_name = "SECONDS")]
    pub lock_wait: cli::Seconds,

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
         an action key: launch, relaunch, backoff, unplaced (no node may take another task now: \
         the swarm backend, with a reason), stop_unhealthy, start, clear, drain, kill, \
         wait_drain, delete_app. A scheduled job's line is {service, instance, job, state, next_due, \
         actions}: state is idle, starting, running, waiting_for_parents, disabled or held; its \
         actions are start_run {job, due, attempt, kind, command, run}, start_staged, record \
         {due, result: missed|skipped, count}, expire_run and release_hold. On Chronos \
         (--backend chronos:URL) a job's line is {service, instance, job, description, disabled, \
         actions}, with put_job {job, endpoint, description} and delete_job {job}. With --dry-run \
         --show-definitions (Marathon, Chronos) the lines are instead the requests a pass would \
         send: {method, path, body}, one per request.",
    ),
    (
        "EXIT STATUS",
        "0\tevery instance was set up (or skipped because another run holds it)\n\
         1\tat least one instance could not be loaded or acted on; the others were still set up\n\
         2\tnothing was done: bad usage, no cluster, an unreachable Docker engine, Marathon or \
         Chronos (none of the URLs answered, or all without a leader)",
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
         $PAASTA_SYSTEM_CONFIG_DIR/*.json\tcluster, docker_registry, volumes, sensu_host, sensu_port, \
         marathon_servers (--backend marathon), chronos_config (--backend chronos)\n\
         <LOCK_DIR>/<SERVICE>.<INSTANCE>.lock\tthe instance's lock",
    ),
    ("EXAMPLES", EXAMPLES),
];

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

enum Work {
    Plan(Box<Plan>, Option<cluster::lock::InstanceLock>),
    Job(Box<jobs::JobPlan>, Option<cluster::lock::InstanceLock>),
    Skipped(Outcome),
    Failed(String, String, String),
    Orphan(String, String),
}

/// The instance's lock (none under --dry-run), waited for up to --lock-wait; Err(why) when
/// another run holds it, and the instance is skipped.
fn lock(
    cli: &Cli,
    service: &str,
    instance: &str,
) -> Result<Result<Option<cluster::lock::InstanceLock>, String>> {
    if cli.dry_run {
        return Ok(Ok(None));
    }
    match cluster::lock::acquire(&cli.lock_dir, service, instance, cli.lock_wait.0) {
        Ok(Some(l)) => Ok(Ok(Some(l))),
        Ok(None) => Ok(Err(format!(
            "another setup-service run holds {}",
            cli.lock_dir
                .join(format!("{service}.{instance}.lock"))
                .display()
        ))),
        Err(e) => bail!(e),
    }
}

/// Where the pass's Sensu events go: --sensu, else the system config's; None: nowhere.
fn sensu_sender(cli: &Cli, system: &SystemConfig) -> Option<cluster::sensu::Sender> {
    cli.master
        .sensu
        .clone()
        .or_else(|| soa::sensu::address(system))
        .map(|a| cluster::sensu::Sender::new(&a, cli.master.sensu_timeout.0))
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
    let cluster = system.cluster_or(cli.master.scope.cluster.as_deref())?;
    let timeouts = parse_timeouts(&cli.drain_timeouts)?;
    if cli.jobs == 0 {
        bail!("-j must be at least 1");
    }
    let now_ms = match &cli.now {
        Some(t) => parse_now(t)?,
        None => (now() * 1000.0) as i64,
    };
    let rt = cli::runtime()?;
    if cluster::chronos::chosen(&cli.master.scope.backend.backend) {
        return rt.block_on(chronos::pass(&cli, &system, &cluster, now_ms));
    }
    let selection = soa::select::select(
        &cli.master.scope.soa_dir,
        &cluster,
        &[InstanceType::Marathon, InstanceType::Chronos],
        &cli.instances,
    );
    if let Some(e) = &selection.unreadable_root {
        bail!("{e}");
    }
    rt.block_on(async {
        let backend = cluster::open(
            &cli.master.scope.backend.backend,
            &cluster,
            cli.master.scope.backend.engine_timeout.0,
        )
        .await?;
        if backend.read_only() && !cli.dry_run {
            bail!(
                "--backend {}: a saved state can only be used with --dry-run",
                cli.master.scope.backend.backend
            );
        }
        let sends_definitions = matches!(backend, cluster::AnyBackend::Marathon(_));
        if cli.show_definitions && !sends_definitions {
            bail!(
                "--show-definitions: the {} backend sends no definitions (Marathon and Chronos do)",
                backend.name()
            );
        }
        let code = execute(&cli, &system, selection, timeouts, now_ms, &backend).await;
        if let (true, cluster::AnyBackend::Marathon(m)) = (cli.show_definitions, &backend) {
            for r in m.would_send() {
                cli::print_json_line(&r)?;
            }
        }
        if let (true, Some(n)) = (cli.verbose, backend.api_calls()) {
            let api = match backend.name() {
                "marathon" => "Marathon",
                _ => "Engine",
            };
            eprintln!("setup-service: {n} {api} API calls");
        }
        code
    })
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
    // Marathon runs no jobs (Chronos does): a pass there leaves them to `--backend chronos`.
    let on_marathon = backend.name() == "marathon";
    for selected in selection.selected {
        let (service, instance) = (
            selected.config.service.clone(),
            selected.config.instance.clone(),
        );
        if on_marathon && selected.config.kind() == InstanceType::Chronos {
            if !cli.all {
                work.push(Work::Failed(
                    service,
                    instance,
                    format!(
                        "{}: a scheduled job: it runs on Chronos (--backend chronos:URL), not Marathon",
                        selected.config.file.display()
                    ),
                ));
            }
            continue;
        }
        if let Some(why) = unrunnable.get(&(service.clone(), instance.clone())) {
            work.push(Work::Failed(
                service,
                instance,
                format!("{}: {why}", selected.config.file.display()),
            ));
            continue;
        }
        let lock = match lock(cli, &service, &instance)? {
            Ok(l) => l,
            Err(held) => {
                work.push(Work::Skipped(Outcome {
                    service: service.clone(),
                    instance: instance.clone(),
                    skipped: Some(held),
                    ..Default::default()
                }));
                continue;
            }
        };
        let deployed = match deployed_of(
            &selected,
            system,
            &cli.master.scope.soa_dir,
            &mut deployments,
        ) {
            Ok(d) => d,
            Err(e) => {
                work.push(Work::Failed(service, instance, format!("{e:#}")));
                continue;
            }
        };
        if selected.config.kind() == InstanceType::Chronos {
            match jobs::plan(selected, deployed) {
                Ok(p) => work.push(Work::Job(Box::new(p), lock)),
                Err(e) => work.push(Work::Failed(service, instance, e.to_string())),
            }
            continue;
        }
        match plan(selected, system, &deployed, timeouts) {
            Ok(p) => work.push(Work::Plan(Box::new(p), lock)),
            Err(e) => work.push(Work::Failed(service, instance, e.to_string())),
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
            match selection.not_understood.iter().find(|(s, _)| *s == service) {
                Some((_, files)) => work.push(Work::Skipped(Outcome {
                    service,
                    instance,
                    skipped: Some(format!(
                        "left alone: not in this tool's instance files, and its service has files of a type not run here ({}), which may describe it",
                        files
                            .iter()
                            .filter_map(|f| f.file_name())
                            .map(|n| n.to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    ..Default::default()
                })),
                None => work.push(Work::Orphan(service, instance)),
            }
        }
    }
    let index = soa::jobs::RunIndex::new(&runs);
    let expirable: HashSet<&str> = soa::jobs::expiry_candidates(&runs, now_ms)
        .into_iter()
        .map(|r| r.id.as_str())
        .collect();
    let mut sensu = sensu_sender(cli, system);
    let pass = jobs::Pass::new(&runs, &index, &expirable, now_ms, cli.dry_run);
    let mut failed = false;
    let ctx = Ctx {
        backend,
        apps: &apps,
        pass: &pass,
        system,
        dry_run: cli.dry_run,
    };
    let ctx = &ctx;
    let mut lines =
        futures_util::stream::iter(work.into_iter().map(|w| perform(ctx, w))).buffered(cli.jobs);
    while let Some(line) = lines.next().await {
        let name = line.record.name();
        if cli.verbose {
            for a in line.record.actions() {
                eprintln!("setup-service: {name}: {}", serde_json::to_string(a)?);
            }
        }
        if let Some(e) = line.record.error() {
            failed = true;
            eprintln!("setup-service: {}", soa::select::about(&name, e));
        }
        if let (Some(sender), Some(event), false) = (&mut sensu, line.event, cli.dry_run) {
            if let Err(e) = sender.send(&event) {
                eprintln!("setup-service: warning: {e}");
            }
        }
        if !cli.show_definitions {
            cli::print_json_line(&line.record)?;
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What every piece of work of one pass reads.
struct Ctx<'a, B: Backend> {
    backend: &'a B,
    apps: &'a [App],
    pass: &'a jobs::Pass<'a>,
    system: &'a SystemConfig,
    dry_run: bool,
}

impl<B: Backend> Ctx<'_, B> {
    fn apps_of(&self, service: &str, instance: &str) -> Vec<&App> {
        self.apps
            .iter()
            .filter(|a| a.service == service && a.instance == instance)
            .collect()
    }
}

/// One piece of work, done: its line, and the Sensu event it earns.
async fn perform<B: Backend>(ctx: &Ctx<'_, B>, work: Work) -> Line {
    match work {
        Work::Plan(plan, lock) => {
            let mine = ctx.apps_of(&plan.spec.service, &plan.spec.instance);
            let out = apps::act(ctx.backend, &plan, &mine, ctx.dry_run).await;
            drop(lock);
            let event = sensu_event(&plan.selected, out.error.as_deref(), app_ok_text(&out));
            Line {
                record: Record::App(out),
                event,
            }
        }
        Work::Job(plan, lock) => {
            let out = jobs::act(ctx.backend, &plan, ctx.system, ctx.pass).await;
            drop(lock);
            let state = out
                .decision
                .as_ref()
                .map_or("-".to_string(), |d| d.state.to_string());
            let ok = format!("{}.{} is set up: job {state}", out.service, out.instance);
            let event = sensu_event(&plan.selected, out.error.as_deref(), ok);
            Line {
                record: Record::Job(out),
                event,
            }
        }
        Work::Orphan(service, instance) => {
            let mine = ctx.apps_of(&service, &instance);
            let mut out =
                apps::remove_orphan(ctx.backend, &service, &instance, &mine, ctx.dry_run).await;
            // Results of a job no longer configured go once past keeping.
            let mut errors = Vec::new();
            jobs::expire(
                ctx.backend,
                ctx.pass.runs_of(&service, &instance),
                ctx.pass,
                &mut out.actions,
                &mut errors,
            )
            .await;
            if !errors.is_empty() {
                out.error = Some(errors.join("; "));
            }
            Line {
                record: Record::App(out),
                event: None,
            }
        }
        Work::Skipped(out) => Line {
            record: Record::App(out),
            event: None,
        },
        Work::Failed(service, instance, e) => failed_line(&service, &instance, e),
    }
}
