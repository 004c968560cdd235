//! `wr-cloud`: wr's manager and the commands that talk to it. `manager start|stop|status` runs
//! the daemon (pid, log and database under managerdir); `add`, `status`, `kill`, `remove` and
//! `retry` queue and inspect jobs through its API; `conf` shows the merged configuration and
//! where each value came from; `cloud deploy|teardown|servers|plan` put the manager into a
//! cloud (`deploy`, `manager::cloud`). The configuration is wr's (`~/.wr_config.yml` and friends,
//! `WR_*`), read by `wr::config`.

pub mod api;
pub mod client;
pub mod deploy;
pub mod manager;
pub mod plan;
pub mod remote;
pub mod runner;
pub mod tls;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use wr::config::{Config, Inputs};
use wr::job::{parse_duration, parse_memory, Defaults, State};

#[derive(Debug, Parser)]
#[command(
    name = "wr-cloud",
    version,
    about = "wr's job manager: queue shell commands with their needs, run them as resources allow, see where each stands",
    long_about = "wr's job manager: queue shell commands with their needs (`add`), run them on this host as \
                  cores and memory allow (`manager start`), see where each stands (`status`), and act on them \
                  (`kill`, `remove`, `retry`). The queue lives in a database under managerdir, backed up to a \
                  file or to S3 (managerdbbkfile). `cloud deploy` puts the manager on a head node in OpenStack \
                  (or in sshd containers on this host's Docker engine), where it spawns servers for the queue and \
                  runs the commands on them over ssh; `cloud teardown` removes it all. Configuration as wr reads \
                  it: ~/.wr_config.yml, the deployment's and the working directory's files, WR_* variables (`conf` \
                  shows the result)."
)]
pub struct Cli {
    /// The deployment: production or development (else WR_DEPLOYMENT, else production).
    #[arg(long, global = true, value_name = "production|development")]
    pub deployment: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, stop or ask after the manager of this deployment.
    Manager {
        #[command(subcommand)]
        action: ManagerAction,
    },
    /// Queue commands: one a line on stdin (or -f FILE); a line may be a command, a command + TAB +
    /// JSON options, or a JSON object with "cmd". All lines are checked before any is queued.
    Add(AddArgs),
    /// The jobs, as JSON lines (or counts per state with --counts).
    Status(StatusArgs),
    /// Kill running jobs (they are buried, for `retry`).
    Kill(ChooseArgs),
    /// Remove jobs that are not running.
    Remove(ChooseArgs),
    /// Make buried jobs ready again.
    Retry(ChooseArgs),
    /// The merged configuration: every key, its value and where it came from.
    Conf {
        /// One JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// The cloud: deploy a manager into one, tear it down, its servers, what its scheduler would do.
    Cloud {
        #[command(subcommand)]
        action: CloudAction,
    },
    /// Run jobs of one group for the manager (started by the manager itself).
    #[command(hide = true)]
    Runner(RunnerArgs),
}

#[derive(Debug, Subcommand)]
pub enum CloudAction {
    /// Deploy a manager into a cloud: the deployment's resources, a head node running the
    /// manager in cloud mode (it spawns servers for the queue), port forwards to it from here.
    Deploy(Box<deploy::DeployArgs>),
    /// Remove a deployment: its queue saved (to S3, or fetched here), its manager stopped, its
    /// servers, addresses, router, network, security group and key removed.
    Teardown(deploy::TeardownArgs),
    /// The cloud manager's bad servers (or all with --all), and destroying them.
    Servers(deploy::ServersArgs),
    /// What the cloud scheduler would do now, for a cloud and queue described in JSON (flavors,
    /// quota, servers with their free room, queued groups, the deployment's limits): runners
    /// started on the servers there are, servers spawned with their flavors, spawns refused and
    /// why, groups that can never run. Touches no cloud. Schema: CLOUD PLAN below.
    Plan {
        /// The description (JSON), or - for stdin.
        #[arg(default_value = "-")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ManagerAction {
    /// Start the manager in the background (or here with --foreground).
    Start(Box<StartArgs>),
    /// Stop the manager; running jobs go on and report to the next manager.
    Stop {
        /// Seconds to wait for it to end.
        #[arg(long, default_value = "30")]
        timeout: f64,
        #[arg(long)]
        dry_run: bool,
    },
    /// Whether the manager runs (exit 0) or not (exit 1), with its ports and backup health.
    Status,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Run in this process instead of in the background.
    #[arg(short = 'f', long)]
    pub foreground: bool,
    /// Cores of this host the jobs may use; -1 or absent: all, 0: none.
    #[arg(long = "max_cores", value_name = "N", allow_negative_numbers = true)]
    pub max_cores: Option<f64>,
    /// MB of this host's memory the jobs may use; -1 or absent: all, 0: none.
    #[arg(long = "max_ram", value_name = "MB", allow_negative_numbers = true)]
    pub max_ram: Option<i64>,
    /// Seconds to wait for the manager to answer after starting it.
    #[arg(short = 't', long, default_value = "15")]
    pub timeout: f64,
    /// Seconds before a failed job's first retry; each next waits twice as long (at most 30 min).
    #[arg(long = "retry_delay", default_value = "30", value_name = "SECONDS")]
    pub retry_delay: f64,
    /// Seconds between database backups at least.
    #[arg(long = "backup_interval", default_value = "30", value_name = "SECONDS")]
    pub backup_interval: f64,
    /// Seconds a runner may go without touching its job before the job is lost.
    #[arg(long = "touch_ttr", default_value = "60", value_name = "SECONDS")]
    pub touch_ttr: f64,
    /// Seconds between a runner's touches.
    #[arg(long = "touch_every", default_value = "15", value_name = "SECONDS")]
    pub touch_every: f64,
    /// Seconds a runner waits for another job of its group before it ends.
    #[arg(long = "reserve_timeout", default_value = "1", value_name = "SECONDS")]
    pub reserve_timeout: f64,
    /// Say what would start, and start nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub cloud: deploy::CloudStartArgs,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Read the commands from FILE instead of stdin.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Reporting group of the jobs.
    #[arg(short = 'i', long = "rep_grp", default_value = "manually_added")]
    pub rep_grp: String,
    /// Requirements group (default: the base name of the command's first word).
    #[arg(short = 'g', long = "req_grp")]
    pub req_grp: Option<String>,
    /// Cores each job needs (0 allowed).
    #[arg(long, default_value = "1")]
    pub cpus: f64,
    /// Memory each job needs: 1G, 500M, or MB.
    #[arg(short = 'm', long, default_value = "1G")]
    pub memory: String,
    /// Disk each job needs, GB.
    #[arg(long, default_value = "0")]
    pub disk: u64,
    /// Time each job needs: 1h, 30m, 90s, or seconds.
    #[arg(short = 't', long, default_value = "1h")]
    pub time: String,
    /// Retries after a failure before a job is buried.
    #[arg(short = 'r', long, default_value = "3")]
    pub retries: u32,
    /// Priority 0-255; higher runs first.
    #[arg(short = 'p', long, default_value = "0")]
    pub priority: u8,
    /// Directory the commands run in (default: the current one).
    #[arg(short = 'c', long)]
    pub cwd: Option<String>,
    /// KEY=VALUE pairs for the commands' environment, comma separated.
    #[arg(short = 'e', long, value_delimiter = ',')]
    pub env: Vec<String>,
    /// Dependency groups the jobs belong to, comma separated.
    #[arg(long = "dep_grps", value_delimiter = ',')]
    pub dep_grps: Vec<String>,
    /// Dependency groups whose jobs must all be complete first, comma separated.
    #[arg(short = 'd', long, value_delimiter = ',')]
    pub deps: Vec<String>,
    /// Cloud deployments: the image of servers for these jobs (a name, or the start of a name or id).
    #[arg(long = "cloud_os", value_name = "IMAGE")]
    pub cloud_os: Option<String>,
    /// Cloud deployments: the login name on that image.
    #[arg(long = "cloud_username", value_name = "NAME")]
    pub cloud_username: Option<String>,
    /// Cloud deployments: memory that image needs at least (1G, 500M, or MB).
    #[arg(long = "cloud_ram", value_name = "SIZE")]
    pub cloud_ram: Option<String>,
    /// Cloud deployments: the flavor (name or id) of servers for these jobs.
    #[arg(long = "cloud_flavor", value_name = "FLAVOR")]
    pub cloud_flavor: Option<String>,
    /// Cloud deployments: a script new servers for these jobs run first (its contents are queued).
    #[arg(long = "cloud_script", value_name = "FILE")]
    pub cloud_script: Option<PathBuf>,
    /// Cloud deployments: files copied to new servers for these jobs, after the deployment's: src[:dst],…
    #[arg(long = "cloud_config_files", value_name = "LIST")]
    pub cloud_config_files: Option<String>,
    /// Print the jobs that would be queued (JSON lines), and queue nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only jobs of this reporting group.
    #[arg(short = 'i', long = "rep_grp")]
    pub rep_grp: Option<String>,
    /// Only jobs in this state.
    #[arg(short = 's', long)]
    pub state: Option<String>,
    /// Counts per state instead of jobs.
    #[arg(long)]
    pub counts: bool,
    /// At most this many jobs.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ChooseArgs {
    /// The jobs of this reporting group.
    #[arg(short = 'i', long = "rep_grp")]
    pub rep_grp: Option<String>,
    /// Every job.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// These jobs, by id.
    #[arg(long = "id", value_name = "ID")]
    pub ids: Vec<i64>,
    /// Say how many jobs it would act on, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RunnerArgs {
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    #[arg(long)]
    pub ca: PathBuf,
    #[arg(long)]
    pub token_file: PathBuf,
    #[arg(long)]
    pub runner_id: String,
    #[arg(long)]
    pub group: String,
    #[arg(long, default_value = "1")]
    pub reserve_timeout: f64,
    #[arg(long, default_value = "15")]
    pub touch_every: f64,
    #[arg(long, default_value = "bash")]
    pub shell: String,
    #[arg(long, default_value = "7")]
    pub umask: String,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "EXIT STATUS",
        "0\tdone; `manager status`: the manager runs\n\
         1\t`manager status`: the manager does not run; `cloud teardown`: nothing of the deployment was found\n\
         2\tan error: a malformed config file or input line (nothing of the batch is queued), an unreachable manager, a refused token; `cloud deploy`: bad input or a failed step (what a failed deploy made is removed again); `cloud teardown`: some resource could not be removed (listed)",
    ),
    (
        "CLOUD PLAN",
        "`cloud plan` reads one JSON object: flavors [{id, name, vcpus, ram (MB), disk (GB)}]; quota {instances, cores, ram: {max (0 or less: unlimited), used}}; \
         limits {max_servers (servers in all, those listed included; -1: no cap), max_spawns (spawns in flight; 0: no cap), os_ram (MB), flavor (a pattern names must match), \
         flavor_sets (\"s2;m2,m1\"), failed_flavors [names]}; servers [{name, flavor (its size) or cores, ram, disk; used_cores, used_ram, used_disk, bad, os, script, config_files, shared}]; \
         groups [{cores (default 1), memory (MB), time (s), disk (GB), priority, count (ready + running), running, spawning (servers being made for it), cloud_os, cloud_script, cloud_config_files, cloud_flavor, cloud_shared, cloud_ram (MB its image needs)}]. \
         It prints one JSON object: starts [{group (its index), server, runners}], spawns [{group, flavor, servers, per_server}], refused [{group, reason}] (waiting for quota, limits or spawns under way) and impossible [{group, reason}] (jobs that can never run: they are buried). \
         Unknown keys are errors.",
    ),
    (
        "FILES",
        "~/.wr_config.yml, ~/.wr_config.<deployment>.yml\tconfiguration (also in $WR_CONFIG_DIR and the working directory)\n\
         <managerdir>_<deployment>/pid, log, db\tthe manager's pid, log and job database\n\
         <managerdir>_<deployment>/db_bk\tthe database backup (managerdbbkfile; may be s3://[profile@]bucket/path)\n\
         <managerdir>_<deployment>/client.token\tthe token clients present (0600)\n\
         <managerdir>_<deployment>/ca.pem, cert.pem, key.pem\tthe manager's TLS CA, certificate and key (0600)\n\
         <managerdir>_<deployment>/cloud_resources.<provider>.<prefix>\ta deployment's cloud resources and head node (JSON, 0600); .key and .key.pub its ssh key; .fm.pid and .fw.pid its port forwards\n\
         <managerdir>_<deployment>/log.<provider>.<prefix>\tthe head node's manager log, fetched by teardown or a failed deploy",
    ),
    (
        "ENVIRONMENT",
        "WR_<KEY>\tany configuration key (WR_MANAGERPORT, WR_MANAGERWEB, WR_MANAGERDIR, WR_MANAGERDBBKFILE, …); beats every file\n\
         WR_DEPLOYMENT\tproduction or development\n\
         WR_CONFIG_DIR\tone more directory of config files\n\
         AWS_*\tcredentials, profile, region and endpoint of an s3:// backup, as the AWS CLI reads them (deploy passes them to the head node)\n\
         OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_REGION_NAME\tthe OpenStack provider's credentials (an rc file's); also OS_USERID, OS_PROJECT_ID/NAME, OS_TENANT_ID/NAME, OS_*DOMAIN_ID/NAME\n\
         OS_POOL_NAME\tthe external network for floating IPs and the router (default public, or nova with OS_TENANT_ID)\n\
         WR_DOCKER_CLOUD\tthe docker provider's flavors and quota (YAML: flavors [{name, vcpus, ram, disk}], quota {instances, cores, ram})\n\
         DOCKER_HOST\tthe engine the docker provider uses",
    ),
    (
        "EXAMPLES",
        "wr-cloud manager start --max_cores 4 --max_ram 8000\n\
         seq 1000 | sed 's/^/echo /' | wr-cloud add -i echoes --cpus 0.5 -m 100M\n\
         wr-cloud status -i echoes --counts\n\
         wr-cloud retry -i echoes\n\
         WR_MANAGERDBBKFILE=s3://bucket/wr/db wr-cloud manager start\n\
         wr-cloud conf --json\n\
         wr-cloud cloud plan cloud.json\n\
         . ~/project-openrc.sh && wr-cloud cloud deploy -o debian-12 -u debian -f '^m1\\.' --max_servers 20\n\
         sh bin/wr-node-image.sh wr-node:1 && WR_DOCKER_CLOUD=cloud.yml wr-cloud cloud deploy -p docker -o wr-node -u wr -r 256\n\
         wr-cloud cloud servers --all\n\
         wr-cloud cloud servers --confirmdead --all\n\
         wr-cloud cloud teardown -p docker",
    ),
];

fn load_config(cli_deployment: &Option<String>) -> Result<Config> {
    if let Some(d) = cli_deployment {
        if wr::config::Deployment::parse(d).is_none() {
            bail!("--deployment: expected production or development, got {d:?}");
        }
    }
    let config = Config::load(&Inputs::from_process(cli_deployment.clone()))?;
    for (file, key) in &config.unknown {
        eprintln!(
            "wr-cloud: warning: {}: unknown key {key:?} ignored",
            file.display()
        );
    }
    Ok(config)
}

fn client(config: &Config, timeout: Duration) -> Result<client::Client> {
    let v = &config.values;
    let token = tls::read_token(std::path::Path::new(&v.managertokenfile))?;
    client::Client::new(
        manager::connect_host(&v.managerhost),
        config.manager_port(),
        std::path::Path::new(&v.managercafile),
        token,
        timeout,
    )
}

fn print(v: &impl serde::Serialize) -> Result<()> {
    cli::print_json_line(v)?;
    Ok(())
}

fn host_ram_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(1024)
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Runner(r) => {
            let (host, port) = r
                .server
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| anyhow!("--server: expected HOST:PORT, got {:?}", r.server))?;
            let token = tls::read_token(&r.token_file)?;
            let c = client::Client::new(
                &host,
                port,
                &r.ca,
                token,
                Duration::from_secs_f64(r.reserve_timeout + 30.0),
            )?;
            runner::run(runner::Args {
                client: c,
                runner_id: r.runner_id,
                group: r.group,
                reserve_timeout: r.reserve_timeout,
                touch_every: r.touch_every,
                shell: r.shell,
                umask: r.umask,
            })
        }
        Command::Cloud { action } => match action {
            CloudAction::Plan { file } => {
                plan::run(&file)?;
                Ok(ExitCode::SUCCESS)
            }
            CloudAction::Deploy(a) => deploy::deploy(&load_config(&cli.deployment)?, *a),
            CloudAction::Teardown(a) => deploy::teardown(&load_config(&cli.deployment)?, a),
            CloudAction::Servers(a) => deploy::servers(&load_config(&cli.deployment)?, a),
        },
        Command::Conf { json } => {
            let config = load_config(&cli.deployment)?;
            conf(&config, json)
        }
        Command::Manager { action } => {
            let config = load_config(&cli.deployment)?;
            match action {
                ManagerAction::Start(a) => start(&config, *a, &cli.deployment),
                ManagerAction::Stop { timeout, dry_run } => stop(&config, timeout, dry_run),
                ManagerAction::Status => status_of_manager(&config),
            }
        }
        Command::Add(a) => {
            let config = load_config(&cli.deployment)?;
            add(&config, a)
        }
        Command::Status(s) => {
            let config = load_config(&cli.deployment)?;
            status(&config, s)
        }
        Command::Kill(c) => choose(&cli.deployment, "kill", c),
        Command::Remove(c) => choose(&cli.deployment, "remove", c),
        Command::Retry(c) => choose(&cli.deployment, "retry", c),
    }
}

fn conf(config: &Config, json: bool) -> Result<ExitCode> {
    if json {
        let mut m = serde_json::Map::new();
        for (k, v) in config.values.entries() {
            m.insert(
                k.to_string(),
                serde_json::json!({"value": v, "source": config.sources[k].to_string()}),
            );
        }
        print(&m)?;
    } else {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (k, v) in config.values.entries() {
            writeln!(out, "{k}: {v} ({})", config.sources[k])?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct ManagerState<'a> {
    status: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    already: bool,
    deployment: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    port: u16,
    web: u16,
    managerdir: String,
    log: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<api::BackupStatus>,
}

fn state<'a>(config: &'a Config, status: &'a str, pid: Option<u32>) -> ManagerState<'a> {
    ManagerState {
        status,
        already: false,
        deployment: config.deployment.name(),
        pid,
        port: config.manager_port(),
        web: config.manager_web(),
        managerdir: config.managerdir().display().to_string(),
        log: &config.values.managerlogfile,
        backup: None,
    }
}

fn ping(config: &Config, timeout: Duration) -> Result<api::Ping> {
    client::some(client(config, timeout)?.get("/ping")?)
}

fn start(config: &Config, a: StartArgs, deployment: &Option<String>) -> Result<ExitCode> {
    let settings = manager::Settings {
        max_cores: a.max_cores.filter(|c| *c >= 0.0).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as f64
        }),
        max_ram: a
            .max_ram
            .filter(|r| *r >= 0)
            .map(|r| r as u64)
            .unwrap_or_else(host_ram_mb),
        retry_delay: a.retry_delay,
        backup_interval: a.backup_interval,
        touch_ttr: a.touch_ttr,
        touch_every: a.touch_every,
        reserve_timeout: a.reserve_timeout,
        exe: std::env::current_exe().context("finding this program, which runners run as")?,
    };
    let scheduler = a.cloud.scheduler(config);
    if scheduler != "local" && !["openstack", "docker"].contains(&scheduler.as_str()) {
        bail!("--scheduler: expected local, openstack or docker, got {scheduler:?}");
    }
    if a.dry_run {
        let mut s = state(config, "would start", None);
        s.backup = Some(api::BackupStatus {
            target: (config.deployment == wr::config::Deployment::Production)
                .then(|| config.values.managerdbbkfile.clone()),
            ..Default::default()
        });
        print(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.foreground {
        manager::check_not_running(config)?;
        let cloud = (scheduler != "local")
            .then(|| deploy::manager_cloud(config, &a.cloud, &scheduler))
            .transpose()?;
        manager::run(config.clone(), settings, cloud)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(pid) = manager::running_pid(config) {
        if ping(config, Duration::from_secs(2)).is_ok() {
            let mut s = state(config, "started", Some(pid));
            s.already = true;
            print(&s)?;
            return Ok(ExitCode::SUCCESS);
        }
        bail!(
            "pid {pid} of {} is alive but does not answer on managerport {}",
            config.values.managerpidfile,
            config.manager_port()
        );
    }
    manager::make_managerdir(&config.managerdir())?;
    let log_path = PathBuf::from(&config.values.managerlogfile);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening the log {}", log_path.display()))?;
    let mut cmd = std::process::Command::new(&settings.exe);
    if let Some(d) = deployment {
        cmd.args(["--deployment", d]);
    }
    cmd.args(["manager", "start", "--foreground"])
        .args(["--max_cores", &settings.max_cores.to_string()])
        .args(["--max_ram", &settings.max_ram.to_string()])
        .args(["--retry_delay", &a.retry_delay.to_string()])
        .args(["--backup_interval", &a.backup_interval.to_string()])
        .args(["--touch_ttr", &a.touch_ttr.to_string()])
        .args(["--touch_every", &a.touch_every.to_string()])
        .args(["--reserve_timeout", &a.reserve_timeout.to_string()])
        .args(a.cloud.to_args())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mut child = cmd.spawn().context("starting the manager")?;
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(a.timeout);
    loop {
        if let Some(status) = child.try_wait()? {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last: Vec<&str> = text.lines().rev().take(5).collect();
            bail!(
                "the manager ended at once ({status}); the end of {}:\n{}",
                log_path.display(),
                last.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        // The token and the CA appear as it starts; then it answers.
        if let Ok(p) = ping(config, Duration::from_secs(2)) {
            print(&state(config, "started", Some(p.pid)))?;
            return Ok(ExitCode::SUCCESS);
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "the manager (pid {}) did not answer within {} s; see {}",
                child.id(),
                a.timeout,
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(config: &Config, timeout: f64, dry_run: bool) -> Result<ExitCode> {
    let Some(pid) = manager::running_pid(config) else {
        let mut s = state(config, "stopped", None);
        s.already = true;
        print(&s)?;
        return Ok(ExitCode::SUCCESS);
    };
    if dry_run {
        print(&state(config, "would stop", Some(pid)))?;
        return Ok(ExitCode::SUCCESS);
    }
    let asked = client(config, Duration::from_secs(5))
        .and_then(|c| Ok(c.post::<_, serde_json::Value>("/shutdown", &serde_json::json!({}))?));
    if asked.is_err() {
        // Not answering: end it as its own signal handler would.
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .context("running kill")?;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(timeout);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        if std::time::Instant::now() > deadline {
            bail!("the manager (pid {pid}) has not ended after {timeout} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    print(&state(config, "stopped", Some(pid)))?;
    Ok(ExitCode::SUCCESS)
}

fn status_of_manager(config: &Config) -> Result<ExitCode> {
    // A manager deployed into a cloud has no pid here: it answers through its port forward.
    let answer = match manager::running_pid(config) {
        Some(_) => Some(ping(config, Duration::from_secs(5))),
        None => ping(config, Duration::from_secs(2)).ok().map(Ok),
    };
    match answer {
        Some(Ok(p)) => {
            let mut s = state(config, "started", Some(p.pid));
            s.backup = Some(p.backup);
            print(&s)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Err(e)) => Err(e),
        None => {
            print(&state(config, "stopped", None))?;
            Ok(ExitCode::from(1))
        }
    }
}

fn add(config: &Config, a: AddArgs) -> Result<ExitCode> {
    let mut input = String::new();
    match &a.file {
        Some(f) => {
            input =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading commands from stdin")?;
        }
    }
    let defaults = Defaults {
        cwd: match a.cwd {
            Some(c) => c,
            None => std::env::current_dir()
                .context("the current directory")?
                .display()
                .to_string(),
        },
        cpus: a.cpus,
        memory: parse_memory(&a.memory).ok_or_else(|| {
            anyhow!(
                "--memory: expected 1G, 500M or a number of MB, got {:?}",
                a.memory
            )
        })?,
        time: parse_duration(&a.time)
            .ok_or_else(|| anyhow!("--time: expected 1h, 30m, 90s or seconds, got {:?}", a.time))?,
        disk: a.disk,
        retries: a.retries,
        priority: a.priority,
        rep_grp: a.rep_grp,
        req_grp: a.req_grp,
        dep_grps: a.dep_grps,
        deps: a.deps,
        env: a.env,
        cloud: wr::job::CloudOpts {
            os: a.cloud_os.unwrap_or_default(),
            username: a.cloud_username.unwrap_or_default(),
            ram: match &a.cloud_ram {
                None => 0,
                Some(r) => parse_memory(r).ok_or_else(|| {
                    anyhow!("--cloud_ram: expected 1G, 500M or a number of MB, got {r:?}")
                })?,
            },
            flavor: a.cloud_flavor.unwrap_or_default(),
            // A path here and in the lines; its contents are queued (below).
            script: a
                .cloud_script
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config_files: a.cloud_config_files.unwrap_or_default(),
        },
    };
    let source = a
        .file
        .as_ref()
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "stdin".into());
    let mut specs = wr::job::parse_lines(&input, &defaults)
        .map_err(|e| anyhow!("{source}: {e}; nothing was queued"))?;
    // cloud_script names a file here; the manager's servers get what it holds now.
    let mut scripts: std::collections::HashMap<String, String> = Default::default();
    for s in specs.iter_mut().filter(|s| !s.cloud.script.is_empty()) {
        let path = std::mem::take(&mut s.cloud.script);
        if !scripts.contains_key(&path) {
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("cloud_script: reading {path} (of {source}); nothing was queued")
            })?;
            scripts.insert(path.clone(), text);
        }
        s.cloud.script = scripts[&path].clone();
    }
    if a.dry_run {
        for s in &specs {
            print(s)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let c = client(config, Duration::from_secs(600))?;
    let added: api::Added = client::some(c.post("/add", &specs)?)?;
    print(&added)?;
    Ok(ExitCode::SUCCESS)
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    match q.finish() {
        s if s.is_empty() => s,
        s => format!("?{s}"),
    }
}

fn status(config: &Config, s: StatusArgs) -> Result<ExitCode> {
    if let Some(st) = &s.state {
        if State::parse(st).is_none() {
            let names: Vec<&str> = State::ALL.iter().map(|s| s.name()).collect();
            bail!("--state: expected one of {}, got {st:?}", names.join(", "));
        }
    }
    let c = client(config, Duration::from_secs(600))?;
    if s.counts {
        let counts: serde_json::Value =
            client::some(c.get(&format!("/counts{}", query(&[("rep_grp", s.rep_grp)])))?)?;
        print(&counts)?;
        return Ok(ExitCode::SUCCESS);
    }
    let path = format!(
        "/jobs{}",
        query(&[
            ("rep_grp", s.rep_grp),
            ("state", s.state),
            ("limit", s.limit.map(|l| l.to_string())),
        ])
    );
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    c.get_lines(&path, |line| {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(())
    })?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn choose(deployment: &Option<String>, action: &str, a: ChooseArgs) -> Result<ExitCode> {
    if a.rep_grp.is_none() && a.ids.is_empty() && !a.all {
        bail!("{action}: choose the jobs: -i REP_GRP, --id ID, or -a for all");
    }
    let config = load_config(deployment)?;
    let c = client(&config, Duration::from_secs(600))?;
    if a.dry_run {
        let state = match action {
            "retry" => Some(State::Buried),
            "kill" => Some(State::Running),
            _ => None,
        };
        let mut n = 0u64;
        let path = format!(
            "/jobs{}",
            query(&[
                ("rep_grp", a.rep_grp.clone()),
                ("state", state.map(|s| s.name().to_string()))
            ])
        );
        c.get_lines(&path, |line| {
            let job: wr::queue::Job = serde_json::from_str(line)?;
            let picked = a.ids.is_empty() || a.ids.contains(&job.id);
            let movable = action != "remove" || !job.state.is_held();
            if picked && movable {
                n += 1;
            }
            Ok(())
        })?;
        print(&serde_json::json!({"action": action, "jobs": n, "dry_run": true}))?;
        return Ok(ExitCode::SUCCESS);
    }
    let sel = api::Selection {
        rep_grp: a.rep_grp,
        all: a.all,
        ids: a.ids,
    };
    let changed: api::Changed = client::some(c.post(&format!("/{action}"), &sel)?)?;
    print(&changed)?;
    Ok(ExitCode::SUCCESS)
}
