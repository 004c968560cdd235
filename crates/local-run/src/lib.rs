//! `local-run`: runs one instance of a service (adhoc, long-running or scheduled) once, on this
//! machine's Docker engine, in the same container a deployment would give it; without an
//! instance it opens the interactive one (a shell with generous resources).
//!
//! Reads soa-configs, deployments.json and the system config (volumes, registry). Talks to the
//! engine over its API. stdout carries the container's own output; `--dry-run` prints the
//! equivalent `docker run` argv as JSON and `--json-dict` the structured spec, without
//! contacting the engine. The container is removed when it ends, and on Ctrl-C or SIGTERM.

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use container::health::{self, Probe, Target, Verdict};
use container::spec::{number_text, Network};
use container::{ContainerSpec, Engine, SpecOptions};
use soa::deployments::{Deployments, DesiredState};
use soa::{InstanceConfig, InstanceType, Service, SystemConfig};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  local-run -s example_service -c local -i batch
  local-run -s example_service -i main -t          # only the health check: exit 0 healthy, 1 not
  local-run -s example_service -i nightly --date 2026-01-15
  local-run -s example_service -i main --dry-run | jq -r 'join(\" \")'
  local-run -s example_service                     # the interactive instance, a shell
  local-run -s example_service -i main --build     # the Dockerfile of the current directory";

/// Run an instance of a service in a container on this machine.
///
/// The container is the one a deployment would run: the instance's cpus, mem and disk, the
/// paasta labels, the dropped capabilities, the system and extra volumes, the environment of
/// the scheduler it would run under. Its output streams live; local-run exits with the
/// container's exit status and removes it.
#[derive(Debug, Parser)]
#[command(name = "local-run", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The service.
    #[arg(short = 's', long)]
    pub service: String,

    /// The cluster whose configs to use (default: this machine's, from the system config).
    #[arg(short = 'c', long)]
    pub cluster: Option<String>,

    /// The instance (default: the interactive one).
    #[arg(short = 'i', long)]
    pub instance: Option<String>,

    /// The soa-configs root (PaaSTA's --yelpsoa-config-root is the same).
    #[arg(short = 'y', long, visible_alias = "yelpsoa-config-root", env = "SOA_DIR", default_value = soa::service::DEFAULT_SOA_DIR, value_name = "SOA_DIR")]
    pub soa_dir: PathBuf,

    /// Pull the image from the registry first.
    #[arg(short = 'p', long, conflicts_with = "build")]
    pub pull: bool,

    /// Build the image from the Dockerfile in the current directory.
    #[arg(short = 'b', long)]
    pub build: bool,

    /// Print the equivalent `docker run` argv as a JSON array; run nothing.
    #[arg(short = 'd', long)]
    pub dry_run: bool,

    /// Print the container spec as JSON (env values included) instead; run nothing. PaaSTA
    /// users write it with --dry-run, which is accepted.
    #[arg(long)]
    pub json_dict: bool,

    /// Run this command (with `sh -c`) instead of the instance's.
    #[arg(short = 'C', long, value_name = "COMMAND")]
    pub cmd: Option<String>,

    /// Attach a terminal and stdin (a shell when there is no command).
    #[arg(short = 'I', long)]
    pub interactive: bool,

    /// Do not simulate the health check.
    #[arg(short = 'k', long, conflicts_with = "healthcheck_only")]
    pub no_healthcheck: bool,

    /// Only run the health check: exit 0 when healthy, 1 when not.
    #[arg(short = 't', long)]
    pub healthcheck_only: bool,

    /// Publish the service's port 8888 on this host port.
    #[arg(short = 'o', long)]
    pub port: Option<u16>,

    /// Interpolate a scheduled job's time variables as at this date (YYYY-MM-DD; default now).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub date: Option<chrono::NaiveDate>,

    /// Run the image of this commit instead of the deployed one (hex, 4 to 40 digits).
    #[arg(long, value_name = "SHA", value_parser = parse_sha)]
    pub sha: Option<String>,

    /// Say on stderr what will run (the equivalent `docker run` argv) before running it.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Accepted for PaaSTA's sake; this local-run reads no secrets.
    #[arg(long)]
    pub skip_secrets: bool,

    /// Accepted for PaaSTA's sake; unused (no Vault here).
    #[arg(long, value_name = "METHOD")]
    pub vault_auth_method: Option<String>,

    /// Accepted for PaaSTA's sake; unused (no Vault here).
    #[arg(long, value_name = "FILE")]
    pub vault_token_file: Option<PathBuf>,
}

fn parse_sha(s: &str) -> Result<String, String> {
    if (4..=40).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!("{s:?} is not a git sha (4 to 40 hex digits)"))
    }
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date of the form YYYY-MM-DD"))
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "EXIT STATUS",
        "N\tthe container's own exit status when it ran\n\
         0\twith -t: the health check passed\n\
         1\twith -t: the health check failed\n\
         2\tlocal-run could not run it: unknown service, instance or cluster, no deployments.json, no image, no Docker engine\n\
         130, 143\tinterrupted by SIGINT or SIGTERM; the container was stopped and removed",
    ),
    (
        "FILES",
        "<SOA_DIR>/<SERVICE>/<marathon|chronos|adhoc>-<CLUSTER>.yaml\tthe instance\n\
         <SOA_DIR>/<SERVICE>/deployments.json\tthe image of the instance's deploy group\n\
         $PAASTA_SYSTEM_CONFIG_DIR/*.json\tcluster, volumes, docker_registry",
    ),
    (
        "ENVIRONMENT",
        "SOA_DIR\tthe soa-configs root (default /nail/etc/services)\n\
         PAASTA_SYSTEM_CONFIG_DIR\tthe system config directory (default /etc/paasta)\n\
         DOCKER_HOST\tthe Docker engine (default unix:///var/run/docker.sock)",
    ),
    ("EXAMPLES", EXAMPLES),
];

/// How long to wait for the engine before saying it is not there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const PULL_TIMEOUT: Duration = Duration::from_secs(120);

/// Everything decided before touching the engine.
struct Plan {
    spec: ContainerSpec,
    probe: Option<Probe>,
    policy: health::Policy,
    /// Build this image from the current directory first.
    build: Option<String>,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    for (given, flag) in [
        (cli.skip_secrets, "--skip-secrets"),
        (cli.vault_auth_method.is_some(), "--vault-auth-method"),
        (cli.vault_token_file.is_some(), "--vault-token-file"),
    ] {
        if given {
            eprintln!("local-run: note: {flag} is accepted as PaaSTA's local-run takes it, and unused: this local-run reads no secrets");
        }
    }
    let plan = plan(&cli)?;
    if cli.verbose {
        eprintln!(
            "local-run: running {}",
            serde_json::Value::from(plan.spec.docker_run_argv())
        );
    }
    if cli.json_dict {
        cli::print_json_line(&plan.spec.to_json())?;
        return Ok(ExitCode::SUCCESS);
    }
    if cli.dry_run {
        cli::print_json_line(&serde_json::Value::from(plan.spec.docker_run_argv()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = cli::runtime()?;
    runtime.block_on(execute(&cli, plan))
}

/// The user's name: $USER, $LOGNAME, else the passwd entry of this process's uid.
fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| {
            use std::os::unix::fs::MetadataExt;
            let uid = std::fs::metadata("/proc/self")
                .map(|m| m.uid())
                .unwrap_or(u32::MAX);
            std::fs::read_to_string("/etc/passwd")
                .ok()
                .and_then(|p| {
                    p.lines()
                        .map(|l| l.split(':').collect::<Vec<_>>())
                        .find(|f| f.len() > 2 && f[2] == uid.to_string())
                        .map(|f| f[0].to_string())
                })
                .unwrap_or_else(|| format!("uid{uid}"))
        })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("0.0.0.0:0")
        .context("finding a free port to publish")?
        .local_addr()?
        .port())
}

fn plan(cli: &Cli) -> Result<Plan> {
    let system =
        SystemConfig::load(&soa::system::default_dir()).context("reading the system config")?;
    let cluster = system.cluster_or(cli.cluster.as_deref())?;
    let service = Service::load(&cli.soa_dir, &cli.service)?;
    let problems = |p: Vec<soa::Problem>| {
        anyhow!(p
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    };
    let interactive = cli.interactive || cli.instance.is_none();
    let config = match &cli.instance {
        None => service.interactive_config(&cluster).map_err(problems)?,
        Some(instance) => {
            let file = service.find_instance(&cluster, instance, None).ok_or_else(|| {
                let known: Vec<String> = service.files_in(Some(&[cluster.clone()][..])).flat_map(|f| f.instances().map(|(n, _)| n)).collect();
                if known.is_empty() {
                    anyhow!("service {} has no instances in cluster {cluster} (no <type>-{cluster}.yaml in {})", cli.service, service.dir.display())
                } else {
                    anyhow!("service {} has no instance {instance} in cluster {cluster}; its instances there: {}", cli.service, known.join(", "))
                }
            })?;
            service.instance_config(file, instance).map_err(problems)?
        }
    };

    let image = image_for(cli, &service, &system, &config)?;
    let command = command_for(cli, &config, interactive)?;
    let checked = if cli.no_healthcheck || config.kind() != InstanceType::Marathon {
        None
    } else {
        health::probe_for(&config)
    };
    let (probe, policy) = match checked {
        Some((p, pol)) => (Some(p), pol),
        None => (None, health::Policy::default()),
    };
    if cli.healthcheck_only && probe.is_none() {
        bail!("{}.{} has no health check to run (-t): set healthcheck_mode, or a proxy_port in smartstack.yaml", config.service, config.instance);
    }
    let publish = match (cli.port, probe.is_some()) {
        (Some(p), _) => Some(p),
        (None, true) => Some(free_port()?),
        (None, false) => None,
    };
    let app_id = match config.long_running() {
        Some(long) if !cli.build => {
            let control = Deployments::load(&cli.soa_dir, &cli.service)?.and_then(|d| {
                d.control(&config.service, &config.cluster, &config.instance)
                    .cloned()
            });
            let force_bounce = control.as_ref().and_then(|c| c.force_bounce.clone());
            let stopped = control.is_some_and(|c| c.desired_state == DesiredState::Stop);
            let desired = long.desired(stopped);
            Some(soa::marathon::app(&config, &system, &image, force_bounce.as_deref(), desired)?.id)
        }
        _ => None,
    };
    let extra_env = simulated_env(
        &config,
        &image,
        app_id.as_deref(),
        publish.unwrap_or(config.container_port),
        cli.date,
    );
    let opts = SpecOptions {
        name: format!(
            "paasta_local_run_{}_{}",
            user(),
            uuid::Uuid::new_v4().as_u128() % 1_000_000
        ),
        image: image.clone(),
        command,
        system_volumes: system.volumes()?,
        extra_env,
        publish,
        interactive,
        tty: interactive && std::io::stdin().is_terminal(),
        detach: probe.is_some() && !interactive,
    };
    let (spec, warnings) = container::spec::build(&config, opts)?;
    for w in warnings {
        eprintln!("local-run: warning: {w}");
    }
    Ok(Plan {
        spec,
        probe,
        policy,
        build: cli.build.then_some(image),
    })
}

fn image_for(
    cli: &Cli,
    service: &Service,
    system: &SystemConfig,
    config: &InstanceConfig,
) -> Result<String> {
    if cli.build {
        return Ok(format!("paasta-local-run-{}-{}", cli.service, user()).to_lowercase());
    }
    let docker_image = match &cli.sha {
        Some(sha) => soa::deployments::docker_image_name(&cli.service, sha, None),
        None => {
            let deployments = Deployments::load(&cli.soa_dir, &cli.service)?.ok_or_else(|| {
                anyhow!(
                    "No deployments.json found in {}. You can generate this by running: generate-deployments -d {} -s {}",
                    cli.soa_dir.join(&cli.service).display(),
                    cli.soa_dir.display(),
                    cli.service
                )
            })?;
            deployments
                .deployment(&config.deploy_group)
                .ok_or_else(|| {
                    anyhow!(
                        "{}.{}'s deploy group {} has no deployment in {} (no paasta-{}-<timestamp>-deploy tag yet?); use --sha or --build",
                        config.service,
                        config.instance,
                        config.deploy_group,
                        soa::deployments::path_for(&cli.soa_dir, &cli.service).display(),
                        config.deploy_group
                    )
                })?
                .docker_image
                .clone()
        }
    };
    Ok(service.image_ref(system, &docker_image))
}

/// The command per docs/paasta.md §9: -C; else a shell when interactive without a command;
/// else the instance's cmd (a string through `sh -c`, a list as is) or args. Scheduled jobs'
/// time variables are interpolated at --date.
fn command_for(cli: &Cli, config: &InstanceConfig, interactive: bool) -> Result<Vec<String>> {
    if let Some(c) = &cli.cmd {
        return Ok(vec!["sh".into(), "-c".into(), c.clone()]);
    }
    let configured = match (&config.cmd, &config.args) {
        (Some(soa::service::Cmd::Shell(s)), _) => {
            let s = if config.kind() == InstanceType::Chronos {
                let at = cli
                    .date
                    .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
                    .unwrap_or_else(|| chrono::Utc::now().naive_utc());
                soa::timevars::interpolate(s, config.syntax_for(s), at).with_context(|| {
                    format!(
                        "{}: instance {}: key cmd: interpolating {s:?}",
                        config.file.display(),
                        config.instance
                    )
                })?
            } else {
                s.clone()
            };
            Some(vec!["sh".into(), "-c".into(), s])
        }
        (Some(soa::service::Cmd::Argv(v)), _) => Some(v.clone()),
        (None, Some(args)) => Some(args.clone()),
        (None, None) => None,
    };
    Ok(match configured {
        Some(c) => c,
        None if interactive => vec!["bash".into()],
        None => Vec::new(),
    })
}

/// The environment the instance's scheduler would add (§9), simulated.
/// `app_id`: the Marathon app id setup-service would give the instance (None for a --build image,
/// which has no commit).
fn simulated_env(
    config: &InstanceConfig,
    image: &str,
    app_id: Option<&str>,
    port: u16,
    date: Option<chrono::NaiveDate>,
) -> Vec<(String, String)> {
    let task = uuid::Uuid::new_v4().to_string();
    let mut env = vec![
        ("HOST".to_string(), hostname()),
        ("MESOS_SANDBOX".into(), "/mnt/mesos/sandbox".into()),
        ("MESOS_CONTAINER_NAME".into(), format!("localrun-{task}")),
        ("MESOS_TASK_ID".into(), task),
        ("PAASTA_LAUNCHED_BY".into(), user()),
    ];
    match config.kind() {
        InstanceType::Marathon => {
            let p = port.to_string();
            env.extend([
                ("MARATHON_PORT".to_string(), p.clone()),
                ("MARATHON_PORT0".into(), p.clone()),
                ("MARATHON_PORTS".into(), p.clone()),
                (format!("MARATHON_PORT_{}", config.container_port), p),
                (
                    "MARATHON_APP_VERSION".into(),
                    "simulated_marathon_app_version".into(),
                ),
                (
                    "MARATHON_APP_RESOURCE_CPUS".into(),
                    number_text(config.cpus),
                ),
                ("MARATHON_APP_RESOURCE_MEM".into(), number_text(config.mem)),
                (
                    "MARATHON_APP_RESOURCE_DISK".into(),
                    number_text(config.disk),
                ),
                ("MARATHON_APP_DOCKER_IMAGE".into(), image.to_string()),
                ("MARATHON_APP_LABELS".into(), String::new()),
                (
                    "MARATHON_APP_ID".into(),
                    format!("/{}", app_id.unwrap_or("simulated_marathon_app_id")),
                ),
                ("MARATHON_HOST".into(), hostname()),
            ]);
        }
        InstanceType::Chronos => {
            let run_time = date
                .map(|d| {
                    d.and_hms_opt(0, 0, 0)
                        .expect("midnight")
                        .and_utc()
                        .timestamp()
                })
                .unwrap_or_else(|| chrono::Utc::now().timestamp());
            env.extend(container::spec::chronos_env(
                config,
                &format!("{} {}", config.service, config.instance),
                &user(),
                run_time,
                0,
            ));
            // Chronos names its task id in lower case.
            env.push(("mesos_task_id".into(), "ct:simulated-task-id".into()));
        }
        // kind() names the family: kubernetes instances are Marathon's, tron actions Chronos'.
        InstanceType::Adhoc | InstanceType::Kubernetes | InstanceType::Tron => {}
    }
    env
}

async fn execute(cli: &Cli, plan: Plan) -> Result<ExitCode> {
    let engine = Engine::connect(CONNECT_TIMEOUT).await?;
    let spec = &plan.spec;
    if let Some(image) = &plan.build {
        eprintln!(
            "local-run: building {image} from {}",
            std::env::current_dir()?.display()
        );
        let context = container::engine::build_context(&std::env::current_dir()?)?;
        engine
            .build(context, image, |line| eprintln!("  {line}"))
            .await?;
    } else if cli.pull {
        eprintln!("local-run: pulling {}", spec.image);
        engine
            .pull(&spec.image, PULL_TIMEOUT, |line| eprintln!("  {line}"))
            .await?;
    }
    // No separate existence check: create answers 404 for a missing image (EngineError::NoImage),
    // and never pulls; one round trip fewer before the first line of output.

    let id = engine.create(spec).await?;
    // From here on the container must not outlive us, whatever happens.
    let outcome = supervise(&engine, &id, &plan, cli).await;
    let removed = engine.remove(&id).await;
    let code = outcome?;
    removed.with_context(|| format!("removing container {}", spec.name))?;
    Ok(code)
}

/// Streams the container, runs the health check, and answers signals; the exit status.
async fn supervise(engine: &Engine, id: &str, plan: &Plan, cli: &Cli) -> Result<ExitCode> {
    use tokio::signal::unix::{signal, SignalKind};
    let spec = &plan.spec;
    let attached = engine.attach(id, spec.interactive).await?;
    let mut output = attached.output;
    let mut input = attached.input;
    let raw = spec.tty.then(RawTerminal::enter);
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    engine.start(id).await?;

    if spec.interactive {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut input).await;
        });
    }
    let pump = container::engine::copy_output(&mut output);
    let health = async {
        let Some(probe) = &plan.probe else {
            return std::future::pending::<Verdict>().await;
        };
        // Probe the container's own address: docker-proxy accepts connections on a published
        // port even when nothing listens inside, which would make every tcp check pass.
        let host = match spec.network {
            Network::Host => "127.0.0.1".to_string(),
            Network::Bridge => match engine.address(id).await {
                Ok(Some(ip)) => ip,
                Ok(None) => {
                    return Verdict::Unhealthy {
                        attempts: 0,
                        last_error: "the container has no bridge address".into(),
                    }
                }
                Err(e) => {
                    return Verdict::Unhealthy {
                        attempts: 0,
                        last_error: e.to_string(),
                    }
                }
            },
        };
        let port = spec.container_port;
        let target = Target {
            host: &host,
            port,
            container: Some((engine, id)),
        };
        let still_running = || async {
            engine
                .inspect(id)
                .await
                .ok()
                .and_then(|c| c.state)
                .and_then(|s| s.running)
                .unwrap_or(false)
        };
        eprintln!(
            "local-run: health check: {probe} on {host}:{port} (grace {} s, every {} s, {} failures)",
            plan.policy.grace.as_secs_f64(),
            plan.policy.interval.as_secs_f64(),
            plan.policy.max_failures
        );
        health::wait_healthy(probe, plan.policy, &target, still_running, |n, e| {
            eprintln!("local-run: health check {n} failed: {e}")
        })
        .await
    };
    tokio::pin!(pump, health);
    let mut health_done = false;
    let status = loop {
        tokio::select! {
            r = &mut pump => {
                r?;
                break ExitCode::from(exit_byte(engine.wait(id).await?));
            }
            v = &mut health, if !health_done => {
                health_done = true;
                match v {
                    Verdict::Healthy { attempts } => eprintln!("local-run: healthy after {attempts} check(s)"),
                    Verdict::Unhealthy { attempts, ref last_error } => eprintln!("local-run: unhealthy after {attempts} check(s): {last_error}"),
                }
                if cli.healthcheck_only {
                    engine.stop(id, Duration::from_secs(5)).await?;
                    break if matches!(v, Verdict::Healthy { .. }) { ExitCode::SUCCESS } else { ExitCode::from(1) };
                }
            }
            _ = sigint.recv() => {
                eprintln!("local-run: interrupted; stopping {}", spec.name);
                engine.stop(id, Duration::from_secs(5)).await?;
                break ExitCode::from(130);
            }
            _ = sigterm.recv() => {
                eprintln!("local-run: terminated; stopping {}", spec.name);
                engine.stop(id, Duration::from_secs(5)).await?;
                break ExitCode::from(143);
            }
        }
    };
    drop(raw);
    Ok(status)
}

fn exit_byte(code: i64) -> u8 {
    u8::try_from(code).unwrap_or(if code < 0 { 1 } else { 255 })
}

/// The local terminal in raw mode while an interactive container has it; restored on drop.
struct RawTerminal {
    saved: Option<String>,
}

impl RawTerminal {
    fn enter() -> RawTerminal {
        // stty is on every system with a terminal; it keeps this crate free of unsafe termios calls.
        let saved = std::process::Command::new("stty")
            .arg("-g")
            .stdin(std::process::Stdio::inherit())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        if saved.is_some() {
            let _ = std::process::Command::new("stty")
                .args(["raw", "-echo"])
                .stdin(std::process::Stdio::inherit())
                .status();
        }
        RawTerminal { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(s) = &self.saved {
            let _ = std::process::Command::new("stty")
                .arg(s)
                .stdin(std::process::Stdio::inherit())
                .status();
        }
    }
}
