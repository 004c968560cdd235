//! `service-ctl`: an operator's hands on one instance (the seed's `paasta start | stop |
//! restart | emergency-start | emergency-stop | status`).
//!
//! - `start`, `stop`, `restart` push a control tag (`paasta-<cluster>.<instance>-<UTC
//!   timestamp>-<start|stop>`, docs/paasta.md §2) to the service's git repository, at the
//!   commit its deploy group runs now. generate-deployments turns it into the instance's
//!   desired state (its timestamp is the new force_bounce: restart makes a new app id, so a
//!   bounce), and setup-service acts on it. Being tied to that commit, the effect lasts until a
//!   new version is deployed.
//! - `emergency-start` acts at once: a long-running instance gets its missing tasks now (relaunch
//!   backoffs waived); a scheduled job runs now whatever its schedule (a hold is lifted;
//!   nothing happens to a disabled or stopped job).
//! - `emergency-stop` acts at once: a long-running instance's tasks are all killed, without
//!   draining (setup-service starts them again on its next pass unless the instance is stopped
//!   too); a scheduled job's runs in flight are killed and the job is held until the next deploy
//!   (a new git sha).
//! - `status` prints the instance as the configs, deployments.json and the cluster see it.
//!
//! Emergency actions take the instance's lock, as setup-service does, so they do not race a pass.

use anyhow::{anyhow, bail, Result};
use chrono::Utc;
use clap::{Parser, Subcommand};
use cluster::spec::{self, Deployed, RunOf};
use cluster::{Action, App, Backend, Outcome, Run, RunKind};
use soa::deployments::Deployments;
use soa::jobs::{time_text, Job, RunIndex};
use soa::select::Selected;
use soa::{InstanceType, SystemConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod chronos;
pub mod output;
use output::{AppStatus, Control, Emergency, JobStatus, RunStatus, Status, StatusOf, TaskStatus};

const EXAMPLES: &str = "\
Examples:
  service-ctl stop example_service.main -c prod       # lasts until the next deploy
  service-ctl restart example_service.main            # a new force_bounce: a bounce
  service-ctl emergency-stop example_service.nightly  # kill runs in flight, hold the job
  service-ctl status example_service.nightly | jq .runs";

/// Start, stop or restart an instance (control tags in git); emergency-start and
/// emergency-stop act on the cluster at once; status shows it.
#[derive(Debug, Parser)]
#[command(name = "service-ctl", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// The cluster (default: the system config's `cluster`).
    #[arg(short = 'c', long, global = true)]
    pub cluster: Option<String>,

    /// The soa-configs root.
    #[arg(short = 'y', long = "soa-dir", env = "SOA_DIR", default_value = soa::service::DEFAULT_SOA_DIR, global = true)]
    pub soa_dir: PathBuf,

    /// Say what would be done (same JSON), change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,

    #[command(flatten)]
    pub backend: cli::BackendArgs,

    /// Seconds to wait for a remote git repository.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", global = true)]
    pub git_timeout: u64,

    /// Where setup-service's per-instance lock files live.
    #[arg(
        long,
        env = "SETUP_SERVICE_LOCK_DIR",
        default_value = "/run/lock/setup-service",
        global = true
    )]
    pub lock_dir: PathBuf,

    /// Seconds to wait for a setup-service pass holding the instance.
    #[arg(long, default_value = "30", value_name = "SECONDS", global = true)]
    pub lock_wait: cli::Seconds,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Push a start control tag: the instance runs (again) until a stop or a new deploy.
    Start { target: String },
    /// Push a stop control tag: the instance stops until a start or a new deploy.
    Stop { target: String },
    /// Push a start control tag with a new timestamp: a new app, bounced in.
    Restart { target: String },
    /// Now: launch missing tasks (long-running) or run the job (scheduled).
    EmergencyStart { target: String },
    /// Now: kill every task without draining (long-running), or kill the runs in flight and
    /// hold the job until the next deploy (scheduled).
    EmergencyStop { target: String },
    /// The instance as configs, deployments.json and the cluster see it.
    Status {
        target: String,
        /// How many of the latest runs and reruns to show (scheduled jobs).
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "OUTPUT",
        "start, stop, restart: {action, service, instance, cluster, tag, git_sha, desired_state, \
         force_bounce, pushed, next}. emergency-start and emergency-stop: {action, service, \
         instance, cluster, actions: [...]}. status: {service, instance, cluster, type, git_sha, \
         desired_state, force_bounce, and for a long-running instance app_id, desired, tasks \
         [{app, name, state, health, host, port, started_at}]; for a scheduled job schedule or \
         parents, state, next_due, runs and reruns [{job, kind, due, attempt, result, exit_code, \
         started_at, finished_at, output_tail}]}; on Chronos, runs are Chronos' and status has chronos \
         {job {name, description, disabled, schedule, parents, last_status, state}, current, \
         reruns}, and the emergency actions are run_job, disable_job and kill_job.",
    ),
    (
        "EXIT STATUS",
        "0\tdone (or, with --dry-run, would be done)\n\
         2\tnothing was done: unknown instance, no deployment, git or the Docker engine failed",
    ),
    (
        "FILES",
        "<SOA_DIR>/<SERVICE>/service.yaml\tgit_url: where control tags are pushed\n\
         <SOA_DIR>/<SERVICE>/deployments.json\tthe deployed sha, desired state and image\n\
         <LOCK_DIR>/<SERVICE>.<INSTANCE>.lock\tthe instance's lock, shared with setup-service",
    ),
    (
        "ENVIRONMENT",
        "SOA_DIR\tthe soa-configs root (-y)\n\
         PAASTA_SYSTEM_CONFIG_DIR\tthe system config directory (default /etc/paasta)\n\
         SETUP_SERVICE_LOCK_DIR\tthe lock directory\n\
         DOCKER_HOST\tthe Docker engine (default unix:///var/run/docker.sock)",
    ),
    ("EXAMPLES", EXAMPLES),
];

struct Target {
    selected: Selected,
    cluster: String,
}

fn target(cli: &Cli, system: &SystemConfig, name: &str) -> Result<Target> {
    let cluster = system.cluster_or(cli.cluster.as_deref())?;
    let mut selection = soa::select::select(
        &cli.soa_dir,
        &cluster,
        &[InstanceType::Marathon, InstanceType::Chronos],
        &[name.to_string()],
    );
    if let Some(f) = selection.failures.first() {
        bail!("{}", f.message);
    }
    let selected = selection
        .selected
        .pop()
        .ok_or_else(|| anyhow!("{name:?}: expected SERVICE.INSTANCE"))?;
    Ok(Target { selected, cluster })
}

fn deployed(cli: &Cli, system: &SystemConfig, t: &Target) -> Result<Deployed> {
    let config = &t.selected.config;
    let deployments = Deployments::load(&cli.soa_dir, &config.service)?;
    Ok(spec::deployed(
        &cli.soa_dir,
        &t.selected.service,
        config,
        system,
        deployments.as_ref(),
    )?)
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let system = SystemConfig::load(&soa::system::default_dir())?;
    let on_chronos = cluster::chronos::chosen(&cli.backend.backend);
    match &cli.command {
        Command::Start { target: t } => {
            cli::print_json_line(&control(&cli, &system, t, "start", "start")?)?
        }
        Command::Stop { target: t } => {
            cli::print_json_line(&control(&cli, &system, t, "stop", "stop")?)?
        }
        Command::Restart { target: t } => {
            cli::print_json_line(&control(&cli, &system, t, "restart", "start")?)?
        }
        Command::EmergencyStart { target: t } if on_chronos => {
            cli::print_json_line(&chronos::emergency_start(&cli, &system, t)?)?
        }
        Command::EmergencyStop { target: t } if on_chronos => {
            cli::print_json_line(&chronos::emergency_stop(&cli, &system, t)?)?
        }
        Command::Status { target: t, .. } if on_chronos => {
            cli::print_json_line(&chronos::status(&cli, &system, t)?)?
        }
        Command::EmergencyStart { target: t } => {
            cli::print_json_line(&on_cluster(&cli, &system, t, emergency_start)?)?
        }
        Command::EmergencyStop { target: t } => {
            cli::print_json_line(&on_cluster(&cli, &system, t, emergency_stop)?)?
        }
        Command::Status { target: t, runs } => {
            let n = *runs;
            let status = on_cluster(&cli, &system, t, move |ctx| Box::pin(status(ctx, n)))?;
            cli::print_json_line(&status)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// start / stop / restart: a control tag at the deploy group's current commit.
fn control(
    cli: &Cli,
    system: &SystemConfig,
    name: &str,
    action: &'static str,
    state: &'static str,
) -> Result<Control> {
    let t = target(cli, system, name)?;
    let config = &t.selected.config;
    let url = t
        .selected
        .service
        .git_url(system.git_url_template())
        .map_err(|p| anyhow!("{p}"))?;
    let timeout = Duration::from_secs(cli.git_timeout);
    let refs = soa::git::list_tags(&url, timeout)?;
    let deploy = soa::deployments::latest_deploy(&refs, &config.deploy_group).ok_or_else(|| {
        anyhow!(
            "{}.{}: its deploy group {} has no deploy tag in {url} (paasta-{}-<timestamp>-deploy): there is no version to {action}",
            config.service,
            config.instance,
            config.deploy_group,
            config.deploy_group
        )
    })?;
    let stamp = Utc::now().format("%Y%m%dT%H%M%S").to_string();
    let tag = soa::deployments::control_tag(&t.cluster, &config.instance, &stamp, state);
    if !cli.dry_run {
        soa::git::create_tag(&url, &tag, &deploy.sha, &deploy.name, timeout)?;
    }
    let what = match (config.kind(), state) {
        (InstanceType::Chronos, "stop") => "the job starts no runs",
        (InstanceType::Chronos, _) => "the job runs on its schedule",
        (_, "stop") => "its tasks are drained and stopped",
        _ if action == "restart" => "a new app (new force_bounce) is bounced in",
        _ => "its tasks are started",
    };
    let next = format!(
        "generate-deployments -s {svc} sets desired_state {state} in deployments.json; on its next pass setup-service acts on it: {what}. This lasts until a new version of deploy group {group} is deployed.",
        svc = config.service,
        group = config.deploy_group
    );
    eprintln!(
        "service-ctl: {} {tag} at {} in {url}\nservice-ctl: {next}",
        if cli.dry_run { "would push" } else { "pushed" },
        &deploy.sha[..deploy.sha.len().min(12)]
    );
    Ok(Control {
        action,
        service: config.service.clone(),
        instance: config.instance.clone(),
        cluster: t.cluster,
        tag,
        git_sha: deploy.sha.clone(),
        desired_state: state,
        force_bounce: stamp,
        pushed: !cli.dry_run,
        next,
    })
}

/// The instance's lock (none under --dry-run), waited for up to --lock-wait.
fn lock(cli: &Cli, c: &soa::InstanceConfig) -> Result<Option<cluster::lock::InstanceLock>> {
    if cli.dry_run {
        return Ok(None);
    }
    match cluster::lock::acquire(&cli.lock_dir, &c.service, &c.instance, cli.lock_wait.0) {
        Ok(Some(l)) => Ok(Some(l)),
        Ok(None) => bail!(
            "a setup-service pass holds {}.{} for more than {} s; try again",
            c.service,
            c.instance,
            cli.lock_wait
        ),
        Err(e) => Err(e.into()),
    }
}

/// What an action on the cluster gets.
struct Ctx<'a> {
    cli: &'a Cli,
    system: &'a SystemConfig,
    target: Target,
    backend: cluster::AnyBackend,
}

type Step<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + 'a>>;

fn on_cluster<T>(
    cli: &Cli,
    system: &SystemConfig,
    name: &str,
    step: impl for<'a> FnOnce(&'a Ctx<'a>) -> Step<'a, T>,
) -> Result<T> {
    let t = target(cli, system, name)?;
    let rt = cli::runtime()?;
    rt.block_on(async {
        let backend = cluster::open(
            &cli.backend.backend,
            &t.cluster,
            cli.backend.engine_timeout.0,
        )
        .await?;
        let ctx = Ctx {
            cli,
            system,
            target: t,
            backend,
        };
        step(&ctx).await
    })
}

impl Ctx<'_> {
    fn config(&self) -> &soa::InstanceConfig {
        &self.target.selected.config
    }

    fn lock(&self) -> Result<Option<cluster::lock::InstanceLock>> {
        lock(self.cli, self.config())
    }

    fn writable(&self) -> Result<()> {
        if self.backend.read_only() && !self.cli.dry_run {
            bail!(
                "--backend {}: a saved state can only be used with --dry-run",
                self.cli.backend.backend
            );
        }
        Ok(())
    }

    async fn apps(&self) -> Result<Vec<App>> {
        let c = self.config();
        Ok(self
            .backend
            .apps()
            .await?
            .into_iter()
            .filter(|a| a.service == c.service && a.instance == c.instance)
            .collect())
    }

    async fn runs(&self) -> Result<Vec<Run>> {
        Ok(self.backend.runs().await?)
    }

    fn job_runs<'r>(&self, runs: &'r [Run]) -> Vec<&'r Run> {
        let c = self.config();
        runs.iter()
            .filter(|r| r.service == c.service && r.instance == c.instance)
            .collect()
    }

    /// An emergency run of the job, due now: its spec, command and due time.
    fn emergency_run(
        &self,
        deployed: &Deployed,
    ) -> Result<(cluster::RunSpec, Option<String>, i64)> {
        let config = self.config();
        let now = Utc::now();
        let (spec, command, _) = spec::run_spec(
            config,
            self.system,
            deployed,
            RunOf {
                job: soa::jobs::job_name(&config.service, &config.instance),
                kind: RunKind::Emergency,
                due: now.timestamp(),
                attempt: 0,
                started_ms: now.timestamp_millis(),
            },
        )?;
        Ok((spec, command, now.timestamp()))
    }

    fn report(&self, action: &'static str, actions: Vec<Action>) -> Emergency {
        report(self.cli, &self.target, action, actions)
    }
}

/// What an emergency action did (or, with --dry-run, would do) to the target.
fn report(cli: &Cli, t: &Target, action: &'static str, actions: Vec<Action>) -> Emergency {
    let c = &t.selected.config;
    Emergency {
        action,
        service: c.service.clone(),
        instance: c.instance.clone(),
        cluster: t.cluster.clone(),
        dry_run: cli.dry_run,
        actions,
    }
}

/// The target's deployment for status: a missing one is said on stderr, and status shows
/// the rest.
fn deployed_or_warn(cli: &Cli, system: &SystemConfig, t: &Target) -> Option<Deployed> {
    deployed(cli, system, t)
        .inspect_err(|e| eprintln!("service-ctl: warning: {e:#}"))
        .ok()
}

/// The status every instance shows (name, deployment, desired state) around what its kind adds.
fn status_of(
    t: &Target,
    deployed: Option<&Deployed>,
    of: StatusOf,
    error: Option<String>,
) -> Status {
    let config = &t.selected.config;
    Status {
        service: config.service.clone(),
        instance: config.instance.clone(),
        cluster: t.cluster.clone(),
        kind: config.kind().to_string(),
        git_sha: deployed.map(|d| d.git_sha.clone()),
        desired_state: deployed.map(|d| if d.stopped { "stop" } else { "start" }),
        force_bounce: deployed.and_then(|d| d.force_bounce.clone()),
        of,
        error,
    }
}

fn emergency_start<'a>(ctx: &'a Ctx<'a>) -> Step<'a, Emergency> {
    Box::pin(async move {
        ctx.writable()?;
        let deployed = deployed(ctx.cli, ctx.system, &ctx.target)?;
        let _lock = ctx.lock()?;
        let config = ctx.config();
        let mut actions = Vec::new();
        if config.kind() == InstanceType::Chronos {
            if config.disabled() || deployed.stopped {
                eprintln!(
                    "service-ctl: {}.{} is {}: nothing to start",
                    config.service,
                    config.instance,
                    if config.disabled() {
                        "disabled"
                    } else {
                        "stopped (desired_state stop)"
                    }
                );
                return Ok(ctx.report("emergency-start", actions));
            }
            let runs = ctx.runs().await?;
            for r in ctx.job_runs(&runs) {
                if r.outcome == Outcome::Held {
                    if !ctx.cli.dry_run {
                        ctx.backend.remove_run(r).await?;
                    }
                    actions.push(Action::ReleaseHold { job: r.job.clone() });
                }
            }
            let (spec, command, due) = ctx.emergency_run(&deployed)?;
            let run = if ctx.cli.dry_run {
                None
            } else {
                Some(ctx.backend.launch_run(&spec, None).await?.name)
            };
            actions.push(Action::StartRun {
                job: spec.job.clone(),
                due: time_text(due),
                attempt: 0,
                kind: RunKind::Emergency,
                command: command.unwrap_or_default(),
                run,
            });
            return Ok(ctx.report("emergency-start", actions));
        }
        let (spec, _) = spec::app_spec(config, ctx.system, &deployed)?;
        let desired = deployed.desired_tasks(config);
        let apps = ctx.apps().await?;
        let app = apps.iter().find(|a| a.id == spec.id);
        // An emergency waives the relaunch backoff: every crashed task is due now.
        actions = ctx
            .backend
            .reconcile(&spec, app, desired, f64::INFINITY, ctx.cli.dry_run)
            .await?;
        Ok(ctx.report("emergency-start", actions))
    })
}

fn emergency_stop<'a>(ctx: &'a Ctx<'a>) -> Step<'a, Emergency> {
    Box::pin(async move {
        ctx.writable()?;
        let _lock = ctx.lock()?;
        let config = ctx.config();
        let mut actions = Vec::new();
        if config.kind() == InstanceType::Chronos {
            let deployed = deployed(ctx.cli, ctx.system, &ctx.target)?;
            let runs = ctx.runs().await?;
            let mine = ctx.job_runs(&runs);
            let held = mine
                .iter()
                .any(|r| r.outcome == Outcome::Held && r.git_sha == deployed.git_sha);
            let job = soa::jobs::job_name(&config.service, &config.instance);
            // The hold first: a run killed before it exists would be retried by the next pass.
            if !held {
                let (spec, _, due) = ctx.emergency_run(&deployed)?;
                if !ctx.cli.dry_run {
                    ctx.backend.launch_run(&spec, Some(Outcome::Held)).await?;
                }
                actions.push(Action::Record {
                    job: job.clone(),
                    due: time_text(due),
                    outcome: Outcome::Held,
                });
            }
            for r in mine.iter().filter(|r| r.outcome.in_flight()) {
                if !ctx.cli.dry_run {
                    ctx.backend.kill_run(r).await?;
                }
                actions.push(Action::Kill {
                    app: r.job.clone(),
                    task: r.name.clone(),
                });
            }
            eprintln!(
                "service-ctl: {job} is held until a new version is deployed (or service-ctl emergency-start)"
            );
            return Ok(ctx.report("emergency-stop", actions));
        }
        for app in ctx.apps().await? {
            for t in &app.tasks {
                if !ctx.cli.dry_run {
                    ctx.backend.kill_task(&app, t).await?;
                }
                actions.push(Action::Kill {
                    app: app.id.clone(),
                    task: t.name.clone(),
                });
            }
        }
        eprintln!(
            "service-ctl: every task of {}.{} was killed; setup-service starts them again on its next pass unless the instance is stopped (service-ctl stop)",
            config.service, config.instance
        );
        Ok(ctx.report("emergency-stop", actions))
    })
}

async fn status(ctx: &Ctx<'_>, show: usize) -> Result<Status> {
    let config = ctx.config();
    let deployed = deployed_or_warn(ctx.cli, ctx.system, &ctx.target);
    let mut error = None;
    let of = if config.kind() == InstanceType::Chronos {
        let job = config.scheduled();
        let runs = ctx.runs().await?;
        let (mut state, mut next_due) = (None, None);
        if let Some(d) = &deployed {
            match Job::from_config(config, &d.git_sha, d.stopped) {
                Ok(job) => {
                    let decision =
                        soa::jobs::decide(&job, &RunIndex::new(&runs), Utc::now().timestamp());
                    state = Some(decision.state);
                    next_due = decision.next_due.map(time_text);
                }
                Err(e) => error = Some(e.to_string()),
            }
        }
        let mine = ctx.job_runs(&runs);
        let mut listed = Vec::new();
        for reruns in [false, true] {
            let mut of_kind: Vec<&&Run> = mine
                .iter()
                .filter(|r| (r.kind == RunKind::Rerun) == reruns)
                .collect();
            of_kind.sort_by_key(|r| std::cmp::Reverse((r.started_ms, r.attempt)));
            let mut items = Vec::new();
            for r in of_kind.into_iter().take(show) {
                let detail = if r.outcome.is_record() {
                    None
                } else {
                    Some(ctx.backend.run_detail(r, 10).await?)
                };
                items.push(RunStatus {
                    job: r.job.clone(),
                    run: r.name.clone(),
                    kind: r.kind,
                    due: time_text(r.due),
                    attempt: r.attempt,
                    git_sha: r.git_sha.clone(),
                    outcome: r.outcome,
                    detail,
                });
            }
            listed.push(items);
        }
        let reruns = listed.pop().unwrap_or_default();
        let runs = listed.pop().unwrap_or_default();
        StatusOf::Job(JobStatus {
            schedule: job.and_then(|j| j.schedule.clone()),
            parents: job.and_then(|j| j.parents.clone()),
            disabled: config.disabled(),
            state,
            next_due,
            runs,
            reruns,
            chronos: None,
        })
    } else {
        let apps = ctx.apps().await?;
        let mut app_id = None;
        if let Some(d) = &deployed {
            match spec::app_spec(config, ctx.system, d) {
                Ok((spec, _)) => app_id = Some(spec.id),
                Err(e) => error = Some(e.to_string()),
            }
        }
        let tasks = apps
            .iter()
            .flat_map(|a| {
                a.tasks.iter().map(move |t| TaskStatus {
                    app: a.id.clone(),
                    name: t.name.clone(),
                    state: t.state,
                    health: t.health,
                    host: t.host.clone(),
                    port: t.port,
                    started_at: t.started_at,
                })
            })
            .collect();
        StatusOf::App(AppStatus {
            app_id,
            desired: deployed.as_ref().map(|d| d.desired_tasks(config)),
            tasks,
        })
    };
    Ok(status_of(&ctx.target, deployed.as_ref(), of, error))
}
