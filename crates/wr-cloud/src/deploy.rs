//! `cloud deploy`, `cloud teardown` and `cloud servers`, and the cloud settings of a manager
//! started with `--scheduler openstack|docker`.
//!
//! Deploy: the deployment's resources by get-or-create (keypair, security group, network,
//! subnet, router), a head node (or the one the resource file names, when it still runs), this
//! program and the configuration copied to it over ssh, the manager started there in cloud
//! mode, two ssh port forwards back to this host (managerport, managerweb), the CA and token
//! fetched, the success hook. Teardown: the queue saved (S3 keeps it; else the remote database
//! is fetched), the manager stopped (it destroys its servers), then every resource of the
//! prefix, public addresses included, and the local files of the deployment.

use crate::remote::{quote, Remote};
use crate::{client, manager, plan, print, tls};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wr::cloud::{Flavor, Limits};
use wr::config::Config;
use wr::provider::{pick_image, NetworkPlan, Provider, Resources, SpawnSpec, USER_DATA};

/// Where this program goes on servers.
pub const REMOTE_EXE: &str = "/tmp/wr-cloud";

/// The clouds there are.
pub fn provider_named(name: &str) -> Result<Arc<dyn Provider>> {
    Ok(match name {
        "openstack" => Arc::new(wr::openstack::OpenStack::from_env()?),
        "docker" => Arc::new(wr::docker_cloud::DockerCloud::from_env()?),
        other => bail!("--provider: expected openstack or docker, got {other:?}"),
    })
}

/// `wr-<prod|dev>-<name>`; the name is at most 18 characters (a server's name, the prefix and
/// a UUID must make a hostname of at most 63) of letters, digits, `_` and `-`.
pub fn prefix(config: &Config, name: &str) -> Result<String> {
    if name.is_empty() {
        bail!("--resource_name is empty (it defaults to your user name: set USER or give it)");
    }
    if name.chars().count() > 18 {
        bail!(
            "--resource_name {name:?} is {} characters; at most 18 fit in a server's hostname",
            name.chars().count()
        );
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("--resource_name {name:?}: only letters, digits, _ and - name cloud resources");
    }
    Ok(format!("{}-{name}", config.deployment.resource_prefix()))
}

/// The local files of a deployment, in managerdir.
pub struct Files {
    pub resources: PathBuf,
    pub key: PathBuf,
    pub fm_pid: PathBuf,
    pub fw_pid: PathBuf,
    pub log_copy: PathBuf,
    /// The servers the manager made (kept on the head node), for a later manager to adopt.
    pub servers: PathBuf,
}

impl Files {
    pub fn new(config: &Config, provider: &str, prefix: &str) -> Files {
        let dir = config.managerdir();
        // Every name carries the prefix (wr's key and pid files do not), so deployments of
        // several resource names can share a managerdir.
        let base = format!("cloud_resources.{provider}.{prefix}");
        Files {
            resources: dir.join(&base),
            key: dir.join(format!("{base}.key")),
            fm_pid: dir.join(format!("{base}.fm.pid")),
            fw_pid: dir.join(format!("{base}.fw.pid")),
            log_copy: dir.join(format!("log.{provider}.{prefix}")),
            servers: dir.join(format!("{base}.servers")),
        }
    }
}

fn say(msg: &str) {
    eprintln!("wr-cloud: {msg}");
}

fn read_resources(path: &Path) -> Result<Option<Resources>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .with_context(|| format!("{} does not read as a resource file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_resources(path: &Path, res: &Resources) -> Result<()> {
    let text = serde_json::to_vec_pretty(res)?;
    tls::write_private(path, &text, 0o600)
}

/// A local path, `~` being this user's home (left as it is when HOME is not set).
fn local_path(p: &str) -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    wr::config::expand_home(p, home.as_deref()).unwrap_or_else(|_| PathBuf::from(p))
}

/// The comma list `src[:dst]` as (local file, remote path): a `~/` in src is the local home,
/// in dst the login's home on the server (paths there are relative to it).
pub fn config_files(list: &str) -> Vec<(PathBuf, String)> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (src, dst) = item.split_once(':').unwrap_or((item, item));
            let remote = dst.strip_prefix("~/").unwrap_or(dst).to_string();
            (local_path(src), remote)
        })
        .collect()
}

fn read_script(path: &str, flag: &str) -> Result<Option<String>> {
    if path.is_empty() {
        return Ok(None);
    }
    let p = local_path(path);
    std::fs::read_to_string(&p)
        .map(Some)
        .with_context(|| format!("{flag}: reading {}", p.display()))
}

/// The cloud flags `manager start` takes (wr's), defaulting to the configuration.
#[derive(Debug, Args, Clone, Default)]
pub struct CloudStartArgs {
    /// local, or a cloud to spawn servers in: openstack or docker [managerscheduler].
    #[arg(short = 's', long)]
    pub scheduler: Option<String>,
    /// The deployment's resource name (its prefix is wr-prod-NAME or wr-dev-NAME; default: $USER).
    #[arg(long = "local_username", value_name = "NAME")]
    pub local_username: Option<String>,
    /// Image of new servers: a name, or the start of a name or id [cloudos].
    #[arg(short = 'o', long = "cloud_os")]
    pub os: Option<String>,
    /// Login name on new servers [clouduser].
    #[arg(short = 'u', long = "cloud_username")]
    pub username: Option<String>,
    /// MB the image needs at least [cloudram].
    #[arg(short = 'r', long = "cloud_ram", value_name = "MB")]
    pub ram: Option<u64>,
    /// GB of disk new servers get at least [clouddisk].
    #[arg(short = 'd', long = "cloud_disk", value_name = "GB")]
    pub disk: Option<u64>,
    /// A pattern flavor names must match [cloudflavor].
    #[arg(short = 'l', long = "cloud_flavor", value_name = "REGEX")]
    pub flavor: Option<String>,
    /// Sets of flavor patterns, in order of preference: "a,b;c" [cloudflavorsets].
    #[arg(long = "cloud_flavor_sets", value_name = "SETS")]
    pub flavor_sets: Option<String>,
    /// A script each new server runs before it takes work [cloudscript].
    #[arg(short = 'p', long = "cloud_script", value_name = "FILE")]
    pub script: Option<String>,
    /// A script each server runs before it is destroyed [clouddestroyscript].
    #[arg(short = 'y', long = "cloud_destroy_script", value_name = "FILE")]
    pub destroy_script: Option<String>,
    /// Files copied to each new server: src[:dst],… [cloudconfigfiles].
    #[arg(long = "cloud_config_files", value_name = "LIST")]
    pub config_files: Option<String>,
    /// Seconds an idle server lives; 0: for ever [cloudkeepalive].
    #[arg(short = 'k', long = "cloud_keepalive", value_name = "SECONDS")]
    pub keepalive: Option<i64>,
    /// Servers to spawn at most; -1: the quota decides [cloudservers].
    #[arg(
        short = 'm',
        long = "cloud_servers",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub servers: Option<i64>,
    /// Spawns under way at once at most; 0: no cap [cloudspawns].
    #[arg(long = "cloud_spawns", value_name = "N")]
    pub spawns: Option<i64>,
    /// Minutes a bad server lives before it is destroyed; 0: until confirmed dead [cloudautoconfirmdead].
    #[arg(long = "cloud_auto_confirm_dead", value_name = "MINUTES")]
    pub auto_confirm_dead: Option<f64>,
    /// The network's CIDR [cloudcidr] (the network itself comes from the resource file).
    #[arg(long = "cloud_cidr", value_name = "CIDR")]
    pub cidr: Option<String>,
    /// Seconds between checks of every server.
    #[arg(
        long = "cloud_check_every",
        value_name = "SECONDS",
        default_value = "60"
    )]
    pub check_every: f64,
}

impl CloudStartArgs {
    /// The scheduler asked for: the flag, else the configuration.
    pub fn scheduler(&self, config: &Config) -> String {
        self.scheduler
            .clone()
            .unwrap_or_else(|| config.values.managerscheduler.clone())
    }

    /// The flags again, for the manager started in the background.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push(flag.to_string());
                out.push(v);
            }
        };
        push("--scheduler", self.scheduler.clone());
        push("--local_username", self.local_username.clone());
        push("--cloud_os", self.os.clone());
        push("--cloud_username", self.username.clone());
        push("--cloud_ram", self.ram.map(|v| v.to_string()));
        push("--cloud_disk", self.disk.map(|v| v.to_string()));
        push("--cloud_flavor", self.flavor.clone());
        push("--cloud_flavor_sets", self.flavor_sets.clone());
        push("--cloud_script", self.script.clone());
        push("--cloud_destroy_script", self.destroy_script.clone());
        push("--cloud_config_files", self.config_files.clone());
        push("--cloud_keepalive", self.keepalive.map(|v| v.to_string()));
        push("--cloud_servers", self.servers.map(|v| v.to_string()));
        push("--cloud_spawns", self.spawns.map(|v| v.to_string()));
        push(
            "--cloud_auto_confirm_dead",
            self.auto_confirm_dead.map(|v| v.to_string()),
        );
        push("--cloud_cidr", self.cidr.clone());
        push("--cloud_check_every", Some(self.check_every.to_string()));
        out
    }
}

fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default()
}

/// The cloud mode's settings for a manager: the resource file `cloud deploy` left in
/// managerdir, the cloud's flavors and the image, the limits.
pub fn manager_cloud(
    config: &Config,
    a: &CloudStartArgs,
    provider_name: &str,
) -> Result<manager::cloud::CloudSettings> {
    let v = &config.values;
    let provider = provider_named(provider_name)?;
    let name = a.local_username.clone().unwrap_or_else(user_name);
    let prefix = prefix(config, &name)?;
    let files = Files::new(config, provider.name(), &prefix);
    let res = read_resources(&files.resources)?.ok_or_else(|| {
        anyhow!(
            "--scheduler {provider_name} needs the resource file `cloud deploy` makes: {} is missing",
            files.resources.display()
        )
    })?;
    let head = res
        .head
        .clone()
        .ok_or_else(|| anyhow!("{} names no head node", files.resources.display()))?;
    let os = a.os.clone().unwrap_or_else(|| v.cloudos.clone());
    let images = provider.images()?;
    let image = pick_image(&images, &os)
        .map_err(|e| anyhow!("--cloud_os: {e}"))?
        .clone();
    let flavors = provider.flavors()?;
    let servers = a.servers.unwrap_or(v.cloudservers);
    let limits = Limits {
        // Servers in all, this one included.
        max_servers: (servers >= 0).then(|| servers as u64 + 1),
        max_spawns: a.spawns.unwrap_or(v.cloudspawns).max(0) as u64,
        os_ram: a.ram.unwrap_or(v.cloudram.max(0) as u64),
        flavor: a.flavor.clone().unwrap_or_else(|| v.cloudflavor.clone()),
        flavor_sets: plan::flavor_sets(
            &a.flavor_sets
                .clone()
                .unwrap_or_else(|| v.cloudflavorsets.clone()),
        ),
        failed_flavors: Vec::new(),
    };
    // A pattern that matches no flavor is an error now, not a group buried later.
    wr::cloud::flavor_for(&flavors, 0.0, 0, &limits).map_err(|e| anyhow!("--cloud_flavor: {e}"))?;
    let addr = head.ip.clone().or(head.public_ip.clone()).ok_or_else(|| {
        anyhow!(
            "{}: the head node has no address",
            files.resources.display()
        )
    })?;
    Ok(manager::cloud::CloudSettings {
        provider,
        user: a.username.clone().unwrap_or_else(|| v.clouduser.clone()),
        key: files.key.clone(),
        servers_file: files.servers.clone(),
        image,
        images,
        flavors,
        limits,
        os_disk: a.disk.unwrap_or(v.clouddisk.max(0) as u64),
        script: read_script(
            &a.script.clone().unwrap_or_else(|| v.cloudscript.clone()),
            "--cloud_script",
        )?,
        destroy_script: read_script(
            &a.destroy_script
                .clone()
                .unwrap_or_else(|| v.clouddestroyscript.clone()),
            "--cloud_destroy_script",
        )?,
        config_files: config_files(
            &a.config_files
                .clone()
                .unwrap_or_else(|| v.cloudconfigfiles.clone()),
        ),
        keepalive: a.keepalive.unwrap_or(v.cloudkeepalive).max(0) as f64,
        auto_confirm_dead: a
            .auto_confirm_dead
            .unwrap_or(v.cloudautoconfirmdead as f64)
            .max(0.0)
            * 60.0,
        check_every: a.check_every.max(1.0),
        spawn_timeout: Duration::from_secs(1200),
        manager_addr: format!("{addr}:{}", config.manager_port()),
        remote_exe: REMOTE_EXE.to_string(),
        remote_dir: format!(".wr_{}", config.deployment.name()),
        ca: PathBuf::from(&v.managercafile),
        token: PathBuf::from(&v.managertokenfile),
        res,
    })
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The cloud: openstack (OS_* variables) or docker (WR_DOCKER_CLOUD).
    #[arg(short = 'p', long, default_value = "openstack")]
    pub provider: String,
    /// Names the deployment's resources, wr-prod-NAME or wr-dev-NAME (default: $USER; at most 18 characters).
    #[arg(long = "resource_name", value_name = "NAME")]
    pub resource_name: Option<String>,
    /// Image of the servers: a name, or the start of a name or id [cloudos].
    #[arg(short = 'o', long)]
    pub os: Option<String>,
    /// Login name on the servers [clouduser].
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// MB the image needs at least [cloudram].
    #[arg(short = 'r', long = "os_ram", value_name = "MB")]
    pub os_ram: Option<u64>,
    /// GB of disk the servers get at least [clouddisk].
    #[arg(short = 'd', long = "os_disk", value_name = "GB")]
    pub os_disk: Option<u64>,
    /// A pattern flavor names must match [cloudflavor].
    #[arg(short = 'f', long, value_name = "REGEX")]
    pub flavor: Option<String>,
    /// A pattern for the head node's flavor (default: --flavor) [cloudflavormanager].
    #[arg(long = "manager_flavor", value_name = "REGEX")]
    pub manager_flavor: Option<String>,
    /// Sets of flavor patterns in order of preference, "a,b;c" [cloudflavorsets].
    #[arg(long = "flavor_sets", value_name = "SETS")]
    pub flavor_sets: Option<String>,
    /// A script every new server runs before it takes work, the head node too [cloudscript].
    #[arg(short = 's', long, value_name = "FILE")]
    pub script: Option<String>,
    /// A script each worker runs before it is destroyed [clouddestroyscript].
    #[arg(short = 'y', long = "destroy_script", value_name = "FILE")]
    pub destroy_script: Option<String>,
    /// Spawns under way at once at most; 0: no cap [cloudspawns].
    #[arg(long = "max_spawns", value_name = "N")]
    pub max_spawns: Option<i64>,
    /// Cores of the head node jobs may use; -1: all, 0: none.
    #[arg(
        long = "max_local_cores",
        default_value = "-1",
        allow_negative_numbers = true
    )]
    pub max_local_cores: f64,
    /// MB of the head node's memory jobs may use; -1: all, 0: none.
    #[arg(
        long = "max_local_ram",
        default_value = "-1",
        allow_negative_numbers = true
    )]
    pub max_local_ram: i64,
    /// A program run here after a deploy, with WR_MANAGERIP and WR_MANAGERCERTDOMAIN set [deploysuccessscript].
    #[arg(short = 'x', long = "on_success", value_name = "EXE")]
    pub on_success: Option<String>,
    /// Seconds an idle worker lives; 0: for ever [cloudkeepalive].
    #[arg(short = 'k', long)]
    pub keepalive: Option<i64>,
    /// Servers at most, the head node included; 0 or -1: the quota decides [cloudservers + 1].
    #[arg(short = 'm', long = "max_servers", allow_negative_numbers = true)]
    pub max_servers: Option<i64>,
    /// The gateway of the deployment's network [cloudgateway].
    #[arg(long = "network_gateway_ip", value_name = "IP")]
    pub network_gateway_ip: Option<String>,
    /// The deployment's network [cloudcidr].
    #[arg(long = "network_cidr", value_name = "CIDR")]
    pub network_cidr: Option<String>,
    /// DNS servers of the network, comma separated [clouddns].
    #[arg(long = "network_dns", value_name = "IPS")]
    pub network_dns: Option<String>,
    /// Files copied to every new server: src[:dst],… [cloudconfigfiles].
    #[arg(short = 'c', long = "config_files", value_name = "LIST")]
    pub config_files: Option<String>,
    /// Seconds to wait for the remote manager to start.
    #[arg(short = 't', long, default_value = "15")]
    pub timeout: f64,
    /// Minutes a bad worker lives before it is destroyed; 0: until confirmed dead [cloudautoconfirmdead].
    #[arg(long = "auto_confirm_dead", value_name = "MINUTES")]
    pub auto_confirm_dead: Option<f64>,
    /// Seconds between the manager's checks of every worker.
    #[arg(long = "check_every", value_name = "SECONDS", default_value = "60")]
    pub check_every: f64,
    /// Seconds before a failed job's first retry (doubling each time, at most 30 min).
    #[arg(long = "retry_delay", value_name = "SECONDS", default_value = "30")]
    pub retry_delay: f64,
    /// Say what would be made (the image, the head node's flavor, the names), and make nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    /// The cloud: openstack or docker.
    #[arg(short = 'p', long, default_value = "openstack")]
    pub provider: String,
    /// The deployment's resource name (default: $USER).
    #[arg(long = "resource_name", value_name = "NAME")]
    pub resource_name: Option<String>,
    /// Go on when the manager cannot be reached or its queue cannot be saved.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Say what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ServersArgs {
    /// Destroy bad servers (with --all or --id): their jobs are lost and retried elsewhere.
    #[arg(short = 'd', long)]
    pub confirmdead: bool,
    /// Every bad server (with --confirmdead); alone, list every server, good ones too.
    #[arg(short = 'a', long, conflicts_with_all = ["id", "destroy"])]
    pub all: bool,
    /// The bad server with this id or name (with --confirmdead).
    #[arg(short = 'i', long, conflicts_with = "destroy")]
    pub id: Option<String>,
    /// Destroy this server (hostname, name or id), bad or not.
    #[arg(long, value_name = "HOST")]
    pub destroy: Option<String>,
    /// Say which servers would be destroyed, and destroy nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What deploy works with once the inputs are checked.
struct Plan {
    provider: Arc<dyn Provider>,
    prefix: String,
    files: Files,
    user: String,
    image: wr::provider::Image,
    head_flavor: Flavor,
    os_disk: u64,
    script: Option<String>,
    net: NetworkPlan,
    config_files: Vec<(PathBuf, String)>,
}

fn check(config: &Config, a: &DeployArgs) -> Result<Plan> {
    if let Some((file, key)) = config.unknown.first() {
        bail!(
            "{}: unknown key {key:?}; a deploy with a misspelt key would not do what you asked (`wr-cloud conf` lists the keys)",
            file.display()
        );
    }
    let v = &config.values;
    let name = a.resource_name.clone().unwrap_or_else(user_name);
    let prefix = prefix(config, &name)?;
    let os = a.os.clone().unwrap_or_else(|| v.cloudos.clone());
    let user = a.username.clone().unwrap_or_else(|| v.clouduser.clone());
    if os.is_empty() {
        bail!("--os is empty: name the image servers boot from");
    }
    if user.is_empty() {
        bail!("--username is empty: name the login of the image");
    }
    let script = read_script(
        &a.script.clone().unwrap_or_else(|| v.cloudscript.clone()),
        "--script",
    )?;
    read_script(
        &a.destroy_script
            .clone()
            .unwrap_or_else(|| v.clouddestroyscript.clone()),
        "--destroy_script",
    )?;
    let provider = provider_named(&a.provider)?;
    let files = Files::new(config, provider.name(), &prefix);
    let images = provider.images()?;
    let image = pick_image(&images, &os)
        .map_err(|e| anyhow!("--os: {e}"))?
        .clone();
    let flavors = provider.flavors()?;
    let os_ram = a.os_ram.unwrap_or(v.cloudram.max(0) as u64);
    let flavor = a.flavor.clone().unwrap_or_else(|| v.cloudflavor.clone());
    let manager_flavor = a
        .manager_flavor
        .clone()
        .filter(|f| !f.is_empty())
        .or_else(|| Some(v.cloudflavormanager.clone()).filter(|f| !f.is_empty()))
        .unwrap_or(flavor.clone());
    let head_limits = Limits {
        flavor: manager_flavor,
        ..Limits::default()
    };
    let head_flavor = wr::cloud::flavor_for(&flavors, 1.0, os_ram.max(image.min_ram), &head_limits)
        .map_err(|e| anyhow!("--manager_flavor/--flavor: {e}"))?
        .clone();
    let worker_limits = Limits {
        flavor,
        ..Limits::default()
    };
    wr::cloud::flavor_for(&flavors, 0.0, 0, &worker_limits)
        .map_err(|e| anyhow!("--flavor: {e}"))?;
    let dns = a.network_dns.clone().unwrap_or_else(|| v.clouddns.clone());
    Ok(Plan {
        provider,
        prefix,
        files,
        user,
        image,
        head_flavor,
        os_disk: a.os_disk.unwrap_or(v.clouddisk.max(0) as u64),
        script,
        net: NetworkPlan {
            cidr: a
                .network_cidr
                .clone()
                .unwrap_or_else(|| v.cloudcidr.clone()),
            gateway: a
                .network_gateway_ip
                .clone()
                .unwrap_or_else(|| v.cloudgateway.clone()),
            dns: dns
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect(),
        },
        config_files: config_files(
            &a.config_files
                .clone()
                .unwrap_or_else(|| v.cloudconfigfiles.clone()),
        ),
    })
}

/// The deployment's private key, made with ssh-keygen when missing; its public half.
fn ensure_key(path: &Path) -> Result<String> {
    let public = PathBuf::from(format!("{}.pub", path.display()));
    if !path.exists() {
        let _ = std::fs::remove_file(&public);
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "wr-cloud", "-f"])
            .arg(path)
            .output()
            .context("running ssh-keygen (is OpenSSH's client installed?)")?;
        if !out.status.success() {
            bail!(
                "ssh-keygen could not make {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    if !public.exists() {
        let out = std::process::Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(path)
            .output()
            .context("running ssh-keygen")?;
        if !out.status.success() {
            bail!("{} is not a private key ssh-keygen reads", path.display());
        }
        std::fs::write(&public, &out.stdout)?;
    }
    Ok(std::fs::read_to_string(&public)?.trim().to_string())
}

fn pid_alive(path: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    // Ours: an ssh forwarding a port, not whatever reused the pid.
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = String::from_utf8_lossy(&cmd);
    (cmd.contains("ssh") && cmd.contains("-qngNTL")).then_some(pid)
}

/// Starts the ssh port forward of `port` unless one runs; writes its pid.
fn forward(pid_file: &Path, key: &Path, user: &str, ip: &str, port: u16) -> Result<()> {
    if pid_alive(pid_file).is_some() {
        return Ok(());
    }
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new("ssh")
        .arg("-i")
        .arg(key)
        .args(["-o", "ExitOnForwardFailure yes"])
        .args(["-o", "UserKnownHostsFile /dev/null"])
        .args(["-o", "StrictHostKeyChecking no"])
        .args(["-o", "ServerAliveInterval 15"])
        .arg("-qngNTL")
        .arg(format!("127.0.0.1:{port}:127.0.0.1:{port}"))
        .arg(format!("{user}@{ip}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting ssh for a port forward")?;
    tls::write_private(pid_file, format!("{}\n", child.id()).as_bytes(), 0o600)
}

fn stop_forwards(files: &Files) {
    for f in [&files.fm_pid, &files.fw_pid] {
        if let Some(pid) = pid_alive(f) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = std::fs::remove_file(f);
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")
}

/// The `export K="V"` lines of the variables the remote manager needs.
fn env_file(provider: &str, remote_dir: &str) -> String {
    let mut vars: Vec<&str> = vec![
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
        "AWS_ALLOW_HTTP",
    ];
    if provider == "openstack" {
        vars.extend_from_slice(wr::openstack::ENV_VARS);
    }
    let mut out = String::new();
    for k in vars {
        if let Ok(v) = std::env::var(k) {
            out.push_str(&format!("export {k}={}\n", quote(&v)));
        }
    }
    if provider == "docker" {
        out.push_str(&format!(
            "export {}=\"$HOME/{remote_dir}/docker-cloud.yml\"\n",
            wr::docker_cloud::CONFIG_VAR
        ));
    }
    out
}

/// How long each step took, for the benchmark.
#[derive(Debug, Default, serde::Serialize)]
struct Timings {
    resources: f64,
    head_node: f64,
    ssh_ready: f64,
    bootstrap: f64,
    manager_start: f64,
    tunnels: f64,
    total: f64,
}

pub fn deploy(config: &Config, a: DeployArgs) -> Result<ExitCode> {
    let t0 = Instant::now();
    let p = check(config, &a)?;
    let v = &config.values;
    let port = config.manager_port();
    let web = config.manager_web();
    if a.dry_run {
        print(&serde_json::json!({
            "status": "would deploy",
            "provider": p.provider.name(),
            "prefix": p.prefix,
            "image": p.image.name,
            "head_flavor": p.head_flavor.name,
            "user": p.user,
            "network": p.net,
            "ports": [22, port, web],
            "resources_file": p.files.resources,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let dir = config.managerdir();
    manager::make_managerdir(&dir)?;
    let existing = read_resources(&p.files.resources)?;
    if existing.as_ref().and_then(|r| r.head.as_ref()).is_none()
        && crate::ping(config, Duration::from_secs(1)).is_ok()
    {
        bail!(
            "a manager of deployment {} already answers on managerport {port}: stop it (`wr-cloud manager stop`) or deploy with another WR_MANAGERPORT",
            config.deployment.name()
        );
    }
    let mut timings = Timings::default();
    let public_key = ensure_key(&p.files.key)?;
    let mut res = existing.unwrap_or_else(|| Resources {
        provider: p.provider.name().to_string(),
        prefix: p.prefix.clone(),
        ..Resources::default()
    });
    res.user = p.user.clone();
    say(&format!(
        "deployment {} on {}: keypair, security group, network {}",
        p.prefix,
        p.provider.name(),
        p.net.cidr
    ));
    let t = Instant::now();
    p.provider
        .prepare(&mut res, &public_key, &[22, port, web], Some(&p.net))?;
    write_resources(&p.files.resources, &res)?;
    timings.resources = t.elapsed().as_secs_f64();
    // The head node: the one the resource file names when it still runs, else a new one.
    let alive = match &res.head {
        Some(h) => p.provider.instance(&h.id)?.filter(|i| i.status == "ACTIVE"),
        None => None,
    };
    let rt = runtime()?;
    let (head, made) = match alive {
        Some(h) => {
            say(&format!(
                "head node {} ({}) is up: reusing it",
                h.name,
                h.public_ip.as_deref().unwrap_or("?")
            ));
            (h, false)
        }
        None => {
            let t = Instant::now();
            let name = format!("{}-{}", p.prefix, uuid::Uuid::new_v4());
            say(&format!(
                "spawning the head node {name} ({}, image {})",
                p.head_flavor.name, p.image.name
            ));
            let h = p.provider.spawn(
                &res,
                &SpawnSpec {
                    name,
                    flavor: p.head_flavor.clone(),
                    image: p.image.clone(),
                    disk: p.os_disk,
                    external_ip: true,
                    user: p.user.clone(),
                    user_data: USER_DATA.to_string(),
                    timeout: Duration::from_secs(1200),
                },
            )?;
            timings.head_node = t.elapsed().as_secs_f64();
            res.head = Some(h.clone());
            write_resources(&p.files.resources, &res)?;
            (h, true)
        }
    };
    let ip = head
        .public_ip
        .clone()
        .ok_or_else(|| anyhow!("the head node {} has no public address", head.name))?;
    let bootstrapped = rt.block_on(bootstrap(config, &a, &p, &res, &ip, made, &mut timings));
    if let Err(e) = bootstrapped {
        if made {
            say("the deploy failed: removing what it made");
            let removed = p.provider.teardown(&p.prefix);
            for e in &removed.errors {
                say(&format!("teardown: {e}"));
            }
            let _ = std::fs::remove_file(&p.files.resources);
        }
        return Err(e);
    }
    let t = Instant::now();
    forward(&p.files.fm_pid, &p.files.key, &p.user, &ip, port)?;
    forward(&p.files.fw_pid, &p.files.key, &p.user, &ip, web)?;
    let deadline = Instant::now() + Duration::from_secs(40);
    let ping = loop {
        match crate::ping(config, Duration::from_secs(2)) {
            Ok(p) => break p,
            Err(e) if Instant::now() > deadline => {
                stop_forwards(&p.files);
                bail!("the manager on the head node {ip} cannot be reached through the port forward to localhost:{port}: {e:#}");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    timings.tunnels = t.elapsed().as_secs_f64();
    let token = std::fs::read_to_string(&v.managertokenfile).unwrap_or_default();
    if let Some(hook) = a
        .on_success
        .clone()
        .or_else(|| Some(v.deploysuccessscript.clone()))
        .filter(|h| !h.is_empty())
    {
        let st = std::process::Command::new(&hook)
            .env("WR_MANAGERIP", &ip)
            .env("WR_MANAGERCERTDOMAIN", &v.managercertdomain)
            .stdout(std::process::Stdio::inherit())
            .status()
            .with_context(|| format!("running --on_success {hook}"))?;
        if !st.success() {
            say(&format!("--on_success {hook} ended with {st}"));
        }
    }
    timings.total = t0.elapsed().as_secs_f64();
    print(&serde_json::json!({
        "status": "deployed",
        "provider": p.provider.name(),
        "prefix": p.prefix,
        "head": {"id": head.id, "name": head.name, "ip": ip, "flavor": head.flavor},
        "manager": {"pid": ping.pid, "port": port, "web": web},
        "ssh": format!("ssh -i {} {}@{ip}", p.files.key.display(), p.user),
        "web": format!("https://{}:{web}/?token={}", v.managercertdomain, token.trim()),
        "timings": timings,
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// The head node made ready and the manager started on it.
async fn bootstrap(
    config: &Config,
    a: &DeployArgs,
    p: &Plan,
    res: &Resources,
    ip: &str,
    made: bool,
    timings: &mut Timings,
) -> Result<()> {
    let v = &config.values;
    let dep = config.deployment.name();
    let rdir = format!(".wr_{dep}");
    let t = Instant::now();
    let remote = Remote::connect(&p.user, ip, &p.files.key, Duration::from_secs(300)).await?;
    if made {
        say(&format!(
            "head node {ip}: waiting for boot, then config files{}",
            if p.script.is_some() {
                " and --script"
            } else {
                ""
            }
        ));
        manager::cloud::boot_server(&remote, &p.config_files, p.script.as_deref()).await?;
    }
    timings.ssh_ready = t.elapsed().as_secs_f64();
    let t = Instant::now();
    say(&format!(
        "head node {ip}: copying wr-cloud and the configuration"
    ));
    manager::cloud::put_exe(&remote, REMOTE_EXE).await?;
    let s3 = v.managerdbbkfile.starts_with("s3://");
    let bk = if s3 {
        v.managerdbbkfile.clone()
    } else {
        // The local queue goes up with the manager, so nothing is lost by moving; but a head
        // node that is reused has the newer queue (the local one is what went up before), so
        // its own is kept, where wr would copy the local one over it.
        let db = Path::new(&v.managerdbfile);
        if config.deployment == wr::config::Deployment::Production && db.exists() {
            let theirs = format!("{rdir}/db");
            let kept = !made
                && remote
                    .run(&format!("test -e {} && echo kept || true", quote(&theirs)))
                    .await?
                    .trim()
                    == "kept";
            if kept {
                say(&format!(
                    "head node {ip}: keeping its queue; the local {} is left as it was",
                    db.display()
                ));
            } else {
                remote.copy(db, &theirs, 0o600).await?;
            }
        }
        format!("{rdir}/db_bk")
    };
    let wr_config = format!(
        "managerport: \"{}\"\nmanagerweb: \"{}\"\nmanagerdbbkfile: {}\nmanagercertdomain: {}\nmanagerumask: {}\n",
        config.manager_port(),
        config.manager_web(),
        serde_json::to_string(&bk)?,
        serde_json::to_string(&v.managercertdomain)?,
        v.managerumask
    );
    remote
        .write(".wr_config.yml", wr_config.as_bytes(), 0o600, None)
        .await?;
    let token = Path::new(&v.managertokenfile);
    if token.exists() {
        remote
            .copy(token, &format!("{rdir}/client.token"), 0o600)
            .await?;
    }
    let resources_name = p
        .files
        .resources
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let mut remote_res = res.clone();
    // The manager on the head node is inside the cloud: it makes no network of its own.
    remote_res.made_network = false;
    remote
        .write(
            &format!("{rdir}/{resources_name}"),
            &serde_json::to_vec_pretty(&remote_res)?,
            0o600,
            None,
        )
        .await?;
    let key_name = p
        .files
        .key
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    remote
        .copy(&p.files.key, &format!("{rdir}/{key_name}"), 0o600)
        .await?;
    if p.provider.name() == "docker" {
        let cloud = match std::env::var_os(wr::docker_cloud::CONFIG_VAR).filter(|v| !v.is_empty()) {
            Some(f) => {
                std::fs::read(&f).with_context(|| format!("reading {}", Path::new(&f).display()))?
            }
            None => wr::docker_cloud::DockerCloudConfig::default()
                .to_yaml()
                .into_bytes(),
        };
        remote
            .write(&format!("{rdir}/docker-cloud.yml"), &cloud, 0o600, None)
            .await?;
    }
    let mut start = vec![
        REMOTE_EXE.to_string(),
        "--deployment".into(),
        dep.into(),
        "manager".into(),
        "start".into(),
        "--scheduler".into(),
        p.provider.name().into(),
        "--local_username".into(),
        p.prefix
            .strip_prefix(&format!("{}-", config.deployment.resource_prefix()))
            .unwrap_or(&p.prefix)
            .into(),
        "--cloud_os".into(),
        p.image.name.clone(),
        "--cloud_username".into(),
        p.user.clone(),
        "--cloud_ram".into(),
        a.os_ram.unwrap_or(v.cloudram.max(0) as u64).to_string(),
        "--cloud_disk".into(),
        p.os_disk.to_string(),
        "--cloud_keepalive".into(),
        a.keepalive.unwrap_or(v.cloudkeepalive).to_string(),
        "--cloud_servers".into(),
        // The head node is one of --max_servers.
        match a.max_servers.unwrap_or(v.cloudservers) {
            n if n > 0 => (n - 1).to_string(),
            _ => "-1".to_string(),
        },
        "--cloud_spawns".into(),
        a.max_spawns.unwrap_or(v.cloudspawns).to_string(),
        "--cloud_auto_confirm_dead".into(),
        a.auto_confirm_dead
            .unwrap_or(v.cloudautoconfirmdead as f64)
            .to_string(),
        "--cloud_cidr".into(),
        p.net.cidr.clone(),
        "--cloud_check_every".into(),
        a.check_every.to_string(),
        "--retry_delay".into(),
        a.retry_delay.to_string(),
        "--max_cores".into(),
        a.max_local_cores.to_string(),
        "--max_ram".into(),
        a.max_local_ram.to_string(),
        "--timeout".into(),
        a.timeout.to_string(),
    ];
    let flavor = a.flavor.clone().unwrap_or_else(|| v.cloudflavor.clone());
    if !flavor.is_empty() {
        start.extend(["--cloud_flavor".into(), flavor]);
    }
    let sets = a
        .flavor_sets
        .clone()
        .unwrap_or_else(|| v.cloudflavorsets.clone());
    if !sets.is_empty() {
        start.extend(["--cloud_flavor_sets".into(), sets]);
    }
    if let Some(script) = &p.script {
        let path = format!("{rdir}/cloud_resources.{}.script", p.provider.name());
        remote.write(&path, script.as_bytes(), 0o700, None).await?;
        start.extend(["--cloud_script".into(), path]);
    }
    if let Some(script) = read_script(
        &a.destroy_script
            .clone()
            .unwrap_or_else(|| v.clouddestroyscript.clone()),
        "--destroy_script",
    )? {
        let path = format!(
            "{rdir}/cloud_resources.{}.destroy_script",
            p.provider.name()
        );
        remote.write(&path, script.as_bytes(), 0o700, None).await?;
        start.extend(["--cloud_destroy_script".into(), path]);
    }
    let remote_files: Vec<String> = p.config_files.iter().map(|(_, d)| d.clone()).collect();
    start.extend(["--cloud_config_files".into(), remote_files.join(",")]);
    remote
        .write(
            ".wr_envvars",
            env_file(p.provider.name(), &rdir).as_bytes(),
            0o600,
            None,
        )
        .await?;
    timings.bootstrap = t.elapsed().as_secs_f64();
    let t = Instant::now();
    say("head node: starting the manager");
    let cmd = format!(
        ". ./.wr_envvars && {}; status=$?; rm -f .wr_envvars; exit $status",
        start.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" ")
    );
    if let Err(e) = remote.run(&cmd).await {
        let log = remote
            .read(&format!("{rdir}/log"))
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let _ = std::fs::write(&p.files.log_copy, &log);
        bail!(
            "{e:#}\nthe manager's log on the head node ({}):\n{}\nto look yourself: ssh -i {} {}@{ip}",
            p.files.log_copy.display(),
            log.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
            p.files.key.display(),
            p.user
        );
    }
    timings.manager_start = t.elapsed().as_secs_f64();
    // The manager on the head node made (or kept) the CA and the token: clients here use them.
    let ca = remote.read(&format!("{rdir}/ca.pem")).await?;
    tls::write_private(Path::new(&v.managercafile), &ca, 0o644)?;
    let token = remote.read(&format!("{rdir}/client.token")).await?;
    tls::write_private(Path::new(&v.managertokenfile), &token, 0o600)?;
    Ok(())
}

pub fn teardown(config: &Config, a: TeardownArgs) -> Result<ExitCode> {
    let v = &config.values;
    let name = a.resource_name.clone().unwrap_or_else(user_name);
    let prefix = prefix(config, &name)?;
    let provider = provider_named(&a.provider)?;
    let files = Files::new(config, provider.name(), &prefix);
    let res = read_resources(&files.resources)?;
    let head = match res.as_ref().and_then(|r| r.head.as_ref()) {
        Some(h) => provider.instance(&h.id)?,
        None => None,
    };
    if a.dry_run {
        let servers: Vec<String> = provider
            .instances(&prefix)?
            .into_iter()
            .map(|i| i.name)
            .collect();
        print(&serde_json::json!({
            "status": "would tear down",
            "prefix": prefix,
            "servers": servers,
            "resources_file": res.as_ref().map(|_| &files.resources),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let user = res.as_ref().map(|r| r.user.clone()).unwrap_or_default();
    let reachable =
        pid_alive(&files.fm_pid).is_some() && crate::ping(config, Duration::from_secs(1)).is_ok();
    let s3 = v.managerdbbkfile.starts_with("s3://");
    let db = PathBuf::from(&v.managerdbfile);
    if reachable {
        say("stopping the manager on the head node (it destroys its servers)");
        let stopped = stop_remote_manager(config);
        match (stopped, a.force) {
            (Ok(()), _) => {}
            (Err(e), true) => say(&format!("warning: {e:#}; going on (--force)")),
            (Err(e), false) => {
                return Err(e.context("stopping the manager (--force goes on anyway)"))
            }
        }
    } else if !a.force && head.is_some() {
        bail!(
            "the manager of {prefix} cannot be reached through its port forward (localhost:{}); its queue would be lost unless backed up to S3: give --force to tear down anyway",
            config.manager_port()
        );
    }
    let rdir = format!(".wr_{}", config.deployment.name());
    if let (Some(h), false) = (&head, user.is_empty()) {
        let ip = h.public_ip.clone().or(h.ip.clone()).unwrap_or_default();
        let rt = runtime()?;
        let fetched = rt.block_on(async {
            let remote = Remote::connect(&user, &ip, &files.key, Duration::from_secs(10)).await?;
            if reachable {
                // It stops answering first, then destroys its servers and takes its last
                // backup: its queue and log are final, and the servers gone, when it ends.
                let pid = format!("{rdir}/pid");
                let running = format!(
                    "p=$(cat {} 2>/dev/null) && kill -0 \"$p\" 2>/dev/null && echo running || true",
                    quote(&pid)
                );
                let deadline = Instant::now() + Duration::from_secs(300);
                while remote.run(&running).await?.trim() == "running" {
                    if Instant::now() > deadline {
                        bail!("the manager on the head node has not ended 5 min after it stopped answering");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            let log = remote
                .read(&format!("{rdir}/log"))
                .await
                .unwrap_or_default();
            tls::write_private(&files.log_copy, &log, 0o600)?;
            for l in String::from_utf8_lossy(&log).lines() {
                if l.contains("WARNING") || l.contains("FAILED") {
                    say(&format!("head node log: {l}"));
                }
            }
            if !s3 && config.deployment == wr::config::Deployment::Production {
                // Without S3 the head node holds the only queue: bring it here.
                let remote_db = remote.read(&format!("{rdir}/db")).await?;
                tls::write_private(&db, &remote_db, 0o600)?;
                say(&format!("the queue is saved in {}", db.display()));
            }
            anyhow::Ok(())
        });
        if let Err(e) = fetched {
            if !a.force {
                return Err(
                    e.context("saving the head node's log and queue (--force goes on anyway)")
                );
            }
            say(&format!("warning: {e:#}; going on (--force)"));
        }
    }
    if s3 && db.exists() {
        // A local manager started later restores the cloud's queue from S3, not this one.
        let old = PathBuf::from(format!("{}.old", db.display()));
        std::fs::rename(&db, &old)
            .with_context(|| format!("renaming {} to {}", db.display(), old.display()))?;
    }
    say(&format!("removing the resources of {prefix}"));
    let removed = provider.teardown(&prefix);
    stop_forwards(&files);
    for f in [
        &files.resources,
        &files.servers,
        &files.key,
        &PathBuf::from(format!("{}.pub", files.key.display())),
        &PathBuf::from(&v.managertokenfile),
        &PathBuf::from(&v.managercafile),
    ] {
        let _ = std::fs::remove_file(f);
    }
    let nothing = removed.removed.is_empty() && removed.errors.is_empty() && res.is_none();
    print(&serde_json::json!({
        "status": if nothing { "nothing to tear down" } else if removed.errors.is_empty() { "torn down" } else { "partly torn down" },
        "prefix": prefix,
        "removed": removed.removed,
        "errors": removed.errors,
    }))?;
    if !removed.errors.is_empty() {
        return Ok(ExitCode::from(2));
    }
    if nothing {
        say(&format!("nothing of {prefix} was found; did you deploy with the current credentials and --resource_name?"));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the manager to stop and waits (its servers are destroyed as it stops).
fn stop_remote_manager(config: &Config) -> Result<()> {
    let c = crate::client(config, Duration::from_secs(10))?;
    c.post::<_, serde_json::Value>("/shutdown", &serde_json::json!({}))?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while crate::ping(config, Duration::from_secs(2)).is_ok() {
        if Instant::now() > deadline {
            bail!("the manager has not stopped after 5 min");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

pub fn servers(config: &Config, a: ServersArgs) -> Result<ExitCode> {
    if a.confirmdead && !a.all && a.id.is_none() {
        bail!("--confirmdead: choose the servers: --all (every bad one) or --id ID");
    }
    if a.id.is_some() && !a.confirmdead {
        bail!("--id goes with --confirmdead");
    }
    let c = crate::client(config, Duration::from_secs(120))?;
    let listed: serde_json::Value = client::some(c.get("/servers")?)?;
    let all: Vec<manager::cloud::ServerView> =
        serde_json::from_value(listed["servers"].clone()).context("the manager's server list")?;
    let chosen: Vec<&manager::cloud::ServerView> = if let Some(h) = &a.destroy {
        all.iter()
            .filter(|s| &s.name == h || &s.id == h || wr::provider::host_name(&s.name) == *h)
            .collect()
    } else if a.confirmdead {
        all.iter()
            .filter(|s| s.bad.is_some())
            .filter(|s| a.id.as_ref().is_none_or(|i| *i == s.id || *i == s.name))
            .collect()
    } else {
        all.iter().filter(|s| a.all || s.bad.is_some()).collect()
    };
    if !a.confirmdead && a.destroy.is_none() {
        for s in chosen {
            print(s)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if chosen.is_empty() {
        bail!(
            "no server matches{}",
            a.destroy
                .as_ref()
                .map(|h| format!(" {h:?}"))
                .unwrap_or_else(|| " (none is bad)".into())
        );
    }
    if a.dry_run {
        for s in chosen {
            print(&serde_json::json!({"would_destroy": s.name, "bad": s.bad}))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (path, server) = match &a.destroy {
        Some(h) => ("/servers/destroy", Some(h.clone())),
        None => ("/servers/confirmdead", a.id.clone()),
    };
    let r: serde_json::Value = client::some(c.post(path, &crate::api::ServerChoice { server })?)?;
    for name in r["destroyed"].as_array().into_iter().flatten() {
        print(
            &serde_json::json!({"destroyed": name, "jobs": "its running jobs are lost and will be retried, or buried when out of retries"}),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
