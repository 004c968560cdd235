//! The manager's cloud mode (`manager start --scheduler openstack|docker`): the I/O around
//! `wr::cloud::plan`. Each queue pass places runners on this host and on the servers there are,
//! and spawns servers of the cheapest fitting flavor for the rest, within the quota,
//! `--cloud_servers` and `--cloud_spawns`. A new server is made ready as wr makes it: ssh,
//! the boot sentinel, the config files (with their mtimes), the post-creation script, this
//! program, the CA and the token; then it takes runners, each an ssh session running
//! `wr-cloud runner` that reports back over the deployment's network.
//!
//! Upkeep, every second: a server with no runner for `--cloud_keepalive` seconds is destroyed
//! (after its destroy script). Every `--cloud_check_every` seconds (60, as wr) each server is
//! checked: the cloud still has it ACTIVE and a session opens. One that fails is bad: it takes
//! no work, a warning is logged and shown by `cloud servers`; it is good again if it recovers,
//! and destroyed after `--cloud_auto_confirm_dead` minutes (0: never) or by `cloud servers
//! --confirmdead`. A runner whose ssh connection breaks (exit 255) marks its server bad for
//! good; its job is lost and retried elsewhere by the usual policy. A clean stop destroys
//! every server this manager spawned.
//!
//! A manager that dies leaves its servers and their runners at work. The servers file in
//! managerdir says what each server was made of, so the next manager on the head node adopts
//! them before its first pass (`adopt`): their runners' jobs are not given up while those
//! runners run (looked for over ssh at each check), and the servers take new work.

use super::{lock, log, now, RunnerInfo, Shared};
use crate::remote::{quote, Remote};
use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wr::cloud::{CloudGroup, CloudServer, Flavor, Kind, Limits, Quota};
use wr::job::CloudOpts;
use wr::provider::{Image, Instance, Provider, ProviderError, Resources, SpawnSpec, USER_DATA};
use wr::queue::{Held, ReadyGroup};
use wr::sched::{self, Req, Server};

/// How the cloud mode runs.
pub struct CloudSettings {
    pub provider: Arc<dyn Provider>,
    pub res: Resources,
    /// The deployment's private key.
    pub key: PathBuf,
    /// The login name on servers.
    pub user: String,
    pub image: Image,
    /// The images there are, for jobs that ask for another (cloud_os).
    pub images: Vec<Image>,
    pub flavors: Vec<Flavor>,
    pub limits: Limits,
    /// GB of disk servers get at least.
    pub os_disk: u64,
    pub script: Option<String>,
    pub destroy_script: Option<String>,
    /// (local file, remote path).
    pub config_files: Vec<(PathBuf, String)>,
    /// Seconds an idle server lives (0: for ever).
    pub keepalive: f64,
    /// Seconds a bad server lives (0: until confirmed dead by hand).
    pub auto_confirm_dead: f64,
    /// Seconds between health checks.
    pub check_every: f64,
    pub spawn_timeout: Duration,
    /// host:port runners on servers reach the manager at.
    pub manager_addr: String,
    /// Where this program goes on servers.
    pub remote_exe: String,
    /// The directory (under the login's home) holding the CA and the token on servers.
    pub remote_dir: String,
    pub ca: PathBuf,
    pub token: PathBuf,
    /// Where the servers this manager made are listed, for a later manager to adopt.
    pub servers_file: PathBuf,
}

/// Why a server takes no work.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bad {
    pub since: f64,
    pub reason: String,
    /// Its ssh broke under a runner: it stays bad until destroyed.
    pub permanent: bool,
}

/// A server this manager spawned, ready for work.
pub struct Node {
    pub id: String,
    pub name: String,
    pub ip: String,
    pub flavor: Flavor,
    /// What it was made of: the jobs it may take (None: an earlier manager's server that its
    /// servers file does not describe, which takes none).
    pub kind: Option<Kind>,
    /// The login it was made with.
    pub user: String,
    pub remote: Arc<Remote>,
    pub bad: Option<Bad>,
    pub idle_since: Option<f64>,
    /// Made by an earlier manager.
    pub adopted: bool,
}

/// A server as the servers file keeps it: what a later manager needs to reuse it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    id: String,
    user: String,
    kind: Kind,
}

/// What `cloud servers` shows of a server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerView {
    pub id: String,
    pub name: String,
    pub ip: String,
    pub flavor: String,
    pub runners: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad: Option<Bad>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_since: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

#[derive(Default)]
struct Spawning {
    per_group: HashMap<String, u64>,
    instances: u64,
    cores: u64,
    ram: u64,
}

pub struct Cloud {
    pub s: CloudSettings,
    nodes: Mutex<Vec<Node>>,
    spawning: Mutex<Spawning>,
    /// The quota as last read, and when.
    quota: Mutex<Option<(f64, Quota)>>,
    /// Flavors whose spawn found no host, and when.
    failed: Mutex<HashMap<String, f64>>,
    /// The last refusal logged per group, so a waiting group is not logged every pass.
    said: Mutex<HashMap<String, String>>,
    last_check: Mutex<f64>,
    /// After a failed spawn no other starts until then; the wait grows ×1.5 per failure (1 s
    /// to 60 s) and is over with the first spawn that works.
    backoff: Mutex<(f64, f64)>,
    /// Servers being destroyed: still there, so still counted against --cloud_servers.
    destroying: Mutex<u64>,
    /// An earlier manager's runners still at work on adopted servers, by runner id.
    earlier: Mutex<HashMap<String, Earlier>>,
}

/// An earlier manager's runner at work on a server this one adopted.
struct Earlier {
    /// The server.
    node: String,
    /// Its job as last read.
    held: Held,
}

/// What servers of one kind are made of.
struct Make {
    image: Image,
    user: String,
    script: Option<String>,
    config_files: Vec<(PathBuf, String)>,
}

/// The config files servers for these options get: the deployment's, then the jobs'.
fn config_files_of(s: &CloudSettings, o: &CloudOpts) -> Vec<(PathBuf, String)> {
    let mut files = s.config_files.clone();
    files.extend(crate::deploy::config_files(&o.config_files));
    files
}

/// The kind of servers a group's jobs need: the deployment's, with what the jobs' cloud
/// options change.
fn kind_of(s: &CloudSettings, o: &CloudOpts) -> Kind {
    let config_files = config_files_of(s, o)
        .iter()
        .map(|(l, r)| format!("{}:{r}", l.display()))
        .collect::<Vec<_>>()
        .join(",");
    Kind {
        os: if o.os.is_empty() {
            s.image.name.clone()
        } else {
            o.os.clone()
        },
        script: if o.script.is_empty() {
            s.script.clone().unwrap_or_default()
        } else {
            o.script.clone()
        },
        config_files,
        flavor: o.flavor.clone(),
        shared: false,
        ram: o.ram,
    }
}

/// How to make a server of `kind` for a group with these options; an image that does not
/// exist is an error listing those that do.
fn make_of(s: &CloudSettings, o: &CloudOpts, kind: &Kind) -> Result<Make, String> {
    let image = if o.os.is_empty() {
        s.image.clone()
    } else {
        wr::provider::pick_image(&s.images, &o.os)?.clone()
    };
    Ok(Make {
        image,
        user: if o.username.is_empty() {
            s.user.clone()
        } else {
            o.username.clone()
        },
        script: Some(kind.script.clone()).filter(|x| !x.is_empty()),
        config_files: config_files_of(s, o),
    })
}

impl Cloud {
    pub fn new(s: CloudSettings) -> Cloud {
        Cloud {
            s,
            nodes: Mutex::new(Vec::new()),
            spawning: Mutex::new(Spawning::default()),
            quota: Mutex::new(None),
            failed: Mutex::new(HashMap::new()),
            said: Mutex::new(HashMap::new()),
            last_check: Mutex::new(now()),
            backoff: Mutex::new((0.0, 0.0)),
            destroying: Mutex::new(0),
            earlier: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `runner` is an earlier manager's, at work on a server this one adopted.
    pub(super) fn is_earlier(&self, runner: &str) -> bool {
        lock(&self.earlier).contains_key(runner)
    }

    /// Keeps of the earlier managers' runners those that still hold jobs on a server that is
    /// still here; says the room their running jobs take, by server.
    pub(super) fn earlier_at_work(&self, held: &[Held]) -> HashMap<String, Vec<Req>> {
        let mut room: HashMap<String, Vec<Req>> = HashMap::new();
        let nodes = lock(&self.nodes);
        let mut earlier = lock(&self.earlier);
        // Every pass asks: once the earlier runners are done, that is all.
        if earlier.is_empty() {
            return room;
        }
        earlier.retain(|_, e| nodes.iter().any(|n| n.name == e.node));
        let mut still = HashMap::new();
        for h in held {
            let Some(mut e) = earlier.remove(&h.runner) else {
                continue;
            };
            e.held = h.clone();
            if let Some(req) = h.req.filter(|_| h.state != wr::job::State::Reserved) {
                room.entry(e.node.clone()).or_default().push(req);
            }
            still.insert(h.runner.clone(), e);
        }
        *earlier = still;
        room
    }

    /// Writes the servers file: every server whose kind is known (a failure is logged; it
    /// costs only a later manager's reuse of them).
    fn save_servers(&self) {
        let saved: std::collections::BTreeMap<String, Saved> = lock(&self.nodes)
            .iter()
            .filter_map(|n| {
                let kind = n.kind.clone()?;
                let s = Saved {
                    id: n.id.clone(),
                    user: n.user.clone(),
                    kind,
                };
                Some((n.name.clone(), s))
            })
            .collect();
        let written = serde_json::to_vec_pretty(&saved)
            .map_err(anyhow::Error::from)
            .and_then(|b| crate::tls::write_private(&self.s.servers_file, &b, 0o600));
        if let Err(e) = written {
            log(&format!("writing the servers file: {e:#}"));
        }
    }

    pub(super) fn views(&self, sh: &Shared) -> Vec<ServerView> {
        let runners = lock(&sh.runners);
        let nodes = lock(&self.nodes);
        let earlier = lock(&self.earlier);
        nodes
            .iter()
            .map(|n| ServerView {
                id: n.id.clone(),
                name: n.name.clone(),
                ip: n.ip.clone(),
                flavor: n.flavor.name.clone(),
                runners: runners
                    .values()
                    .filter(|r| r.node.as_deref() == Some(&n.name))
                    .count()
                    + earlier.values().filter(|e| e.node == n.name).count(),
                bad: n.bad.clone(),
                idle_since: n.idle_since,
                adopted: n.adopted,
            })
            .collect()
    }

    /// Servers being spawned now.
    pub fn spawning(&self) -> u64 {
        lock(&self.spawning).instances
    }

    /// The quota, read at most every 10 s, with what spawns under way will take counted in.
    async fn quota(&self) -> Result<Quota> {
        let t = now();
        let cached = lock(&self.quota)
            .filter(|(at, _)| t - at < 10.0)
            .map(|(_, q)| q);
        let mut q = match cached {
            Some(q) => q,
            None => {
                let p = self.s.provider.clone();
                let q = tokio::task::spawn_blocking(move || p.quota()).await??;
                *lock(&self.quota) = Some((t, q));
                q
            }
        };
        let sp = lock(&self.spawning);
        q.instances.used += sp.instances;
        q.cores.used += sp.cores;
        q.ram.used += sp.ram;
        Ok(q)
    }

    fn limits(&self) -> Limits {
        let t = now();
        let mut failed = lock(&self.failed);
        // wr avoids a flavor that found no host for a while, then tries it again.
        failed.retain(|_, at| t - *at < 600.0);
        Limits {
            failed_flavors: failed.keys().cloned().collect(),
            ..self.s.limits.clone()
        }
    }
}

/// The cloud part of a queue pass: runners on this host and the servers, spawns for the rest.
pub(super) async fn pass(
    sh: &Arc<Shared>,
    cloud: &Arc<Cloud>,
    ready: &[ReadyGroup],
    per_group: &HashMap<String, u64>,
    localhost: Server,
    earlier: &HashMap<String, Vec<Req>>,
) -> Result<()> {
    let kind = kind_of(&cloud.s, &CloudOpts::default());
    let mut servers = vec![CloudServer {
        server: localhost,
        kind: kind.clone(),
        flavor: None,
    }];
    // Where each of `servers` is: this host, a server by name, or (servers being destroyed,
    // bad and roomless) nowhere.
    let mut names: Vec<Option<Option<String>>> = vec![Some(None)];
    {
        // Locks in one order everywhere: runners, nodes, earlier, destroying.
        let runners = lock(&sh.runners);
        let nodes = lock(&cloud.nodes);
        for n in nodes.iter() {
            let mut s = wr::cloud::server_of(&n.name, &n.flavor);
            for r in runners
                .values()
                .filter(|r| r.node.as_deref() == Some(&n.name))
            {
                s.allocate(&r.req, 1);
            }
            for req in earlier.get(&n.name).into_iter().flatten() {
                s.allocate(req, 1);
            }
            // A server of a kind not known takes no work, like a bad one.
            s.bad = n.bad.is_some() || n.kind.is_none();
            servers.push(CloudServer {
                server: s,
                kind: n.kind.clone().unwrap_or_default(),
                flavor: Some(n.flavor.clone()),
            });
            names.push(Some(Some(n.name.clone())));
        }
        for i in 0..*lock(&cloud.destroying) {
            let mut s = Server::new(&format!("destroying-{i}"), 0.0, 0, 0);
            s.bad = true;
            servers.push(CloudServer {
                server: s,
                kind: kind.clone(),
                flavor: None,
            });
            names.push(None);
        }
    }
    let spawning = lock(&cloud.spawning).per_group.clone();
    let groups: Vec<CloudGroup> = ready
        .iter()
        .map(|g| {
            let running = per_group.get(&g.key).copied().unwrap_or(0);
            CloudGroup {
                group: sched::Group {
                    req: g.req,
                    priority: g.priority,
                    count: g.ready + running,
                    running,
                },
                kind: kind_of(&cloud.s, &g.cloud),
                spawning: spawning.get(&g.key).copied().unwrap_or(0),
            }
        })
        .collect();
    let quota = cloud.quota().await?;
    let plan = wr::cloud::plan(
        &groups,
        &mut servers,
        &cloud.s.flavors,
        &quota,
        &cloud.limits(),
    )
    .map_err(|e| anyhow!(e))?;
    for start in &plan.starts {
        let (req, key) = (groups[start.group].group.req, &ready[start.group].key);
        for _ in 0..start.runners {
            match &names[start.server] {
                Some(None) => super::spawn_runner(sh, key, req)?,
                Some(Some(node)) => start_remote_runner(sh, cloud, node, key, req)?,
                None => {}
            }
        }
    }
    let (until, _) = *lock(&cloud.backoff);
    let spawns = if now() < until {
        &[][..]
    } else {
        &plan.spawns[..]
    };
    let mut impossible: Vec<(usize, String)> = plan
        .impossible
        .iter()
        .map(|r| (r.group, r.reason.clone()))
        .collect();
    for sp in spawns {
        let (req, g) = (groups[sp.group].group.req, &ready[sp.group]);
        let kind = &groups[sp.group].kind;
        let make = match make_of(&cloud.s, &g.cloud, kind) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                impossible.push((sp.group, format!("cloud_os: {e}")));
                continue;
            }
        };
        let flavor = cloud
            .s
            .flavors
            .iter()
            .find(|f| f.name == sp.flavor)
            .cloned()
            .ok_or_else(|| anyhow!("the plan chose an unknown flavor {}", sp.flavor))?;
        for _ in 0..sp.servers {
            {
                let mut s = lock(&cloud.spawning);
                *s.per_group.entry(g.key.clone()).or_default() += 1;
                s.instances += 1;
                s.cores += flavor.vcpus;
                s.ram += flavor.ram;
            }
            let order = Order {
                key: g.key.clone(),
                req,
                flavor: flavor.clone(),
                kind: kind.clone(),
                make: make.clone(),
            };
            tokio::spawn(spawn_server(sh.clone(), cloud.clone(), order));
        }
    }
    for (group, why) in impossible {
        let key = ready[group].key.clone();
        let reason = format!("no server can take it: {why}");
        let (k, w) = (key.clone(), reason.clone());
        let n = sh.with_queue(move |q| q.bury_ready(&k, &w)).await?;
        if n > 0 {
            log(&format!("{n} jobs of group {key} buried: {reason}"));
            sh.changed();
        }
    }
    let mut said = lock(&cloud.said);
    for r in &plan.refused {
        let key = ready[r.group].key.clone();
        if said.get(&key) != Some(&r.reason) {
            log(&format!("group {key} waits: {}", r.reason));
            said.insert(key, r.reason.clone());
        }
    }
    Ok(())
}

/// The server a runner id names, for a runner on a cloud server (`runner-<uuid>@<server>`).
fn server_of_runner(id: &str) -> Option<&str> {
    id.split_once('@').map(|(_, server)| server)
}

/// Whether a runner id names a runner on a cloud server.
pub fn is_remote_runner(id: &str) -> bool {
    server_of_runner(id).is_some()
}

/// Starts a runner on a server: a session running this program's runner there.
fn start_remote_runner(
    sh: &Arc<Shared>,
    cloud: &Arc<Cloud>,
    node: &str,
    key: &str,
    req: Req,
) -> Result<()> {
    let remote = lock(&cloud.nodes)
        .iter()
        .find(|n| n.name == node)
        .map(|n| n.remote.clone())
        .ok_or_else(|| anyhow!("server {node} is gone"))?;
    let id = format!("runner-{}@{node}", uuid::Uuid::new_v4().simple());
    let s = &cloud.s;
    let v = &sh.config.values;
    let args = [
        "runner".to_string(),
        "--server".into(),
        s.manager_addr.clone(),
        "--ca".into(),
        format!("{}/ca.pem", s.remote_dir),
        "--token-file".into(),
        format!("{}/client.token", s.remote_dir),
        "--runner-id".into(),
        id.clone(),
        "--group".into(),
        key.to_string(),
        "--reserve-timeout".into(),
        sh.settings.reserve_timeout.to_string(),
        "--touch-every".into(),
        sh.settings.touch_every.to_string(),
        "--shell".into(),
        v.runnerexecshell.clone(),
        "--umask".into(),
        format!("{:o}", sh.config.umask()),
    ];
    lock(&sh.runners).insert(
        id.clone(),
        RunnerInfo {
            req,
            key: key.to_string(),
            node: Some(node.to_string()),
        },
    );
    if let Some(n) = lock(&cloud.nodes).iter_mut().find(|n| n.name == node) {
        n.idle_since = None;
    }
    let (sh, cloud, node, exe) = (
        sh.clone(),
        cloud.clone(),
        node.to_string(),
        s.remote_exe.clone(),
    );
    tokio::spawn(async move {
        let status = remote
            .session
            .clone()
            .arc_command(exe)
            .args(args)
            .stdin(openssh::Stdio::null())
            .stdout(openssh::Stdio::null())
            .stderr(openssh::Stdio::null())
            .status()
            .await;
        lock(&sh.runners).remove(&id);
        if let Ok(st) = &status {
            if !st.success() {
                log(&format!("runner {id} ended: {st}"));
            }
        }
        let broke = match &status {
            Ok(s) => s.code() == Some(255) || s.code().is_none(),
            Err(_) => true,
        };
        if broke {
            let why = match status {
                Ok(s) => format!("the ssh session of runner {id} ended with {s}"),
                Err(e) => format!("the ssh session of runner {id} failed: {e}"),
            };
            mark_bad(&cloud, &node, why, true);
        }
        sh.wake.notify_one();
    });
    Ok(())
}

/// Marks a server bad (no new work), with a warning.
fn mark_bad(cloud: &Cloud, node: &str, reason: String, permanent: bool) {
    let mut nodes = lock(&cloud.nodes);
    if let Some(n) = nodes.iter_mut().find(|n| n.name == node) {
        match &mut n.bad {
            Some(b) => b.permanent |= permanent,
            None => {
                log(&format!(
                    "WARNING: server {} ({}) is bad: {reason}; it takes no work{}",
                    n.name,
                    n.ip,
                    if cloud.s.auto_confirm_dead > 0.0 {
                        format!(
                            " and is destroyed in {:.0} min unless it recovers",
                            cloud.s.auto_confirm_dead / 60.0
                        )
                    } else {
                        " until it recovers or is confirmed dead (`wr-cloud cloud servers`)"
                            .to_string()
                    }
                ));
                n.bad = Some(Bad {
                    since: now(),
                    reason,
                    permanent,
                });
            }
        }
    }
}

/// Spawns one server for the group `req` and makes it ready; gives it up when the group no
/// longer needs it.
/// One server to spawn: for which group, of which flavor and kind, made how.
struct Order {
    key: String,
    req: Req,
    flavor: Flavor,
    kind: Kind,
    make: Arc<Make>,
}

async fn spawn_server(sh: Arc<Shared>, cloud: Arc<Cloud>, o: Order) {
    let name = format!("{}-{}", cloud.s.res.prefix, uuid::Uuid::new_v4());
    log(&format!(
        "spawning server {name} ({}, image {}) for group {}",
        o.flavor.name, o.make.image.name, o.key
    ));
    let t = now();
    let r = make_ready(&sh, &cloud, &name, &o).await;
    {
        let mut s = lock(&cloud.spawning);
        if let Some(n) = s.per_group.get_mut(&o.key) {
            *n = n.saturating_sub(1);
        }
        s.instances = s.instances.saturating_sub(1);
        s.cores = s.cores.saturating_sub(o.flavor.vcpus);
        s.ram = s.ram.saturating_sub(o.flavor.ram);
    }
    *lock(&cloud.quota) = None;
    {
        let mut b = lock(&cloud.backoff);
        match &r {
            Ok(_) => *b = (0.0, 0.0),
            Err(e) if e.to_string() == NOT_NEEDED => {}
            Err(_) => {
                let step = (b.1 * 1.5).clamp(1.0, 60.0);
                *b = (now() + step, step);
            }
        }
    }
    match r {
        Ok(node) => {
            log(&format!(
                "server {} ({}, {}) ready in {:.1} s",
                node.name,
                node.ip,
                o.flavor.name,
                now() - t
            ));
            lock(&cloud.nodes).push(node);
            cloud.save_servers();
        }
        Err(e) => {
            let msg = format!("{e:#}");
            if msg.contains("No valid host") {
                lock(&cloud.failed).insert(o.flavor.name.clone(), now());
            }
            log(&format!("server {name} given up: {msg}"));
        }
    }
    sh.wake.notify_one();
}

/// Why a server that was made is destroyed at once: its group's jobs went elsewhere.
const NOT_NEEDED: &str = "server not needed";

/// Whether the group still has ready jobs for a new server.
async fn needed(sh: &Arc<Shared>, key: &str) -> bool {
    let key = key.to_string();
    sh.with_queue(move |q| q.ready_in(&key))
        .await
        .map_or(true, |n| n > 0)
}

async fn destroy_instance(cloud: &Cloud, id: &str) -> Result<bool, ProviderError> {
    let (p, id) = (cloud.s.provider.clone(), id.to_string());
    tokio::task::spawn_blocking(move || p.destroy(&id))
        .await
        .map_err(|e| ProviderError::Other(e.to_string()))?
}

async fn make_ready(sh: &Arc<Shared>, cloud: &Arc<Cloud>, name: &str, o: &Order) -> Result<Node> {
    let s = &cloud.s;
    let spec = SpawnSpec {
        name: name.to_string(),
        flavor: o.flavor.clone(),
        image: o.make.image.clone(),
        disk: s.os_disk.max(o.req.disk),
        external_ip: false,
        user: o.make.user.clone(),
        user_data: USER_DATA.to_string(),
        timeout: s.spawn_timeout,
    };
    let (p, res) = (s.provider.clone(), s.res.clone());
    let inst = tokio::task::spawn_blocking(move || p.spawn(&res, &spec)).await??;
    let ready = async {
        if !needed(sh, &o.key).await {
            anyhow::bail!(NOT_NEEDED);
        }
        let ip = inst
            .ip
            .clone()
            .ok_or_else(|| anyhow!("server {name} has no address"))?;
        let remote = Remote::connect(&o.make.user, &ip, &s.key, Duration::from_secs(300)).await?;
        boot_server(&remote, &o.make.config_files, o.make.script.as_deref()).await?;
        equip(&remote, s).await?;
        if !needed(sh, &o.key).await {
            anyhow::bail!(NOT_NEEDED);
        }
        Ok(Node {
            id: inst.id.clone(),
            name: name.to_string(),
            ip,
            flavor: o.flavor.clone(),
            kind: Some(o.kind.clone()),
            user: o.make.user.clone(),
            remote: Arc::new(remote),
            bad: None,
            idle_since: Some(now()),
            adopted: false,
        })
    }
    .await;
    if ready.is_err() {
        let _ = destroy_instance(cloud, &inst.id).await;
    }
    ready
}

/// What a runner on a server needs: this program, the manager's CA and the token.
async fn equip(remote: &Remote, s: &CloudSettings) -> Result<()> {
    put_exe(remote, &s.remote_exe).await?;
    remote
        .copy(&s.ca, &format!("{}/ca.pem", s.remote_dir), 0o600)
        .await?;
    remote
        .copy(&s.token, &format!("{}/client.token", s.remote_dir), 0o600)
        .await
}

/// wr's "wait until ready" for a new server: the end of boot, the config files, the
/// post-creation script.
pub async fn boot_server(
    remote: &Remote,
    config_files: &[(PathBuf, String)],
    script: Option<&str>,
) -> Result<()> {
    wait_for_boot(remote).await?;
    copy_config_files(remote, config_files).await?;
    if let Some(script) = script {
        run_script(remote, script, "/tmp/.server_script").await?;
    }
    Ok(())
}

/// Waits (10 min at most) for the sentinel the user data touches at the end of boot, and
/// removes it.
async fn wait_for_boot(remote: &Remote) -> Result<()> {
    let start = now();
    loop {
        if remote.run("test -e /tmp/.wr_cloud_sentinel").await.is_ok() {
            remote
                .run("rm -f /tmp/.wr_cloud_sentinel 2>/dev/null || sudo rm -f /tmp/.wr_cloud_sentinel")
                .await?;
            return Ok(());
        }
        if now() - start > 600.0 {
            anyhow::bail!("{} did not finish booting within 10 min", remote.host);
        }
        // A check is one session on the open connection: cheap enough to look four times a
        // second (wr looks once a second, which is most of a container's boot).
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Copies config files that exist (0600, their mtimes kept); missing ones are skipped.
async fn copy_config_files(remote: &Remote, files: &[(PathBuf, String)]) -> Result<()> {
    for (local, dst) in files {
        if local.exists() {
            remote.copy(local, dst, 0o600).await?;
        }
    }
    Ok(())
}

/// Runs a script on the server (15 min at most); its stderr is in the error.
async fn run_script(remote: &Remote, script: &str, path: &str) -> Result<()> {
    remote.write(path, script.as_bytes(), 0o700, None).await?;
    let cmd = format!("{} && rm -f {}", quote(path), quote(path));
    tokio::time::timeout(Duration::from_secs(900), remote.run(&cmd))
        .await
        .map_err(|_| anyhow!("the script {path} on {} ran over 15 min", remote.host))?
        .with_context(|| format!("the script on {}", remote.host))?;
    Ok(())
}

/// This program's MD5, computed once.
fn exe_md5(exe: &std::path::Path) -> Result<String> {
    static SUM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(s) = SUM.get() {
        return Ok(s.clone());
    }
    use md5::{Digest, Md5};
    let mut f = std::fs::File::open(exe).with_context(|| format!("reading {}", exe.display()))?;
    let mut h = Md5::new();
    std::io::copy(&mut f, &mut h)?;
    let sum: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(SUM.get_or_init(|| sum).clone())
}

/// Puts this program at `path` on the server unless the same (by MD5) is there.
pub async fn put_exe(remote: &Remote, path: &str) -> Result<()> {
    let exe = std::env::current_exe().context("finding this program")?;
    let e = exe.clone();
    let sum = tokio::task::spawn_blocking(move || exe_md5(&e)).await??;
    let there = remote
        .run(&format!("md5sum {} 2>/dev/null || true", quote(path)))
        .await?;
    if there.split_whitespace().next() != Some(sum.as_str()) {
        remote.copy(&exe, path, 0o755).await?;
    }
    Ok(())
}

/// Upkeep, every second: idle servers past their keepalive are destroyed; every
/// `check_every` seconds the servers are checked; bad ones past `auto_confirm_dead` are
/// destroyed.
pub(super) async fn upkeep(sh: Arc<Shared>, cloud: Arc<Cloud>) {
    let mut stop = sh.stop.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        let t = now();
        let doomed = {
            let runners = lock(&sh.runners);
            let mut nodes = lock(&cloud.nodes);
            let earlier = lock(&cloud.earlier);
            let mut view: Vec<wr::cloud::Upkept> = nodes
                .iter()
                .map(|n| wr::cloud::Upkept {
                    name: n.name.clone(),
                    busy: runners.values().any(|r| r.node.as_deref() == Some(&n.name))
                        || earlier.values().any(|e| e.node == n.name),
                    idle_since: n.idle_since,
                    bad_since: n.bad.as_ref().map(|b| b.since),
                    reusable: n.kind.is_some(),
                })
                .collect();
            let doomed =
                wr::cloud::upkeep(&mut view, t, cloud.s.keepalive, cloud.s.auto_confirm_dead);
            for (n, v) in nodes.iter_mut().zip(view) {
                n.idle_since = v.idle_since;
            }
            doomed
        };
        for (name, doom) in doomed {
            let why = match doom {
                wr::cloud::Doom::Idle(s) => format!("idle for {s} s"),
                wr::cloud::Doom::Dead(s) => format!("bad for {:.1} min", s as f64 / 60.0),
                wr::cloud::Doom::Unused => {
                    "an earlier manager's, of a kind not known, with nothing left to run".into()
                }
            };
            destroy_node(&sh, &cloud, &name, &why).await;
        }
        let due = {
            let mut last = lock(&cloud.last_check);
            let due = t - *last >= cloud.s.check_every;
            if due {
                *last = t;
            }
            due
        };
        if due {
            check_servers(&sh, &cloud).await;
        }
    }
}

/// Checks every server: still ACTIVE in the cloud, and a session opens; then the earlier
/// managers' runners.
async fn check_servers(sh: &Arc<Shared>, cloud: &Arc<Cloud>) {
    let list: Vec<(String, String, Arc<Remote>)> = lock(&cloud.nodes)
        .iter()
        .map(|n| (n.name.clone(), n.id.clone(), n.remote.clone()))
        .collect();
    for (name, id, remote) in list {
        let p = cloud.s.provider.clone();
        let idc = id.clone();
        let inst = tokio::task::spawn_blocking(move || p.instance(&idc)).await;
        let problem = match inst {
            Ok(Ok(None)) => {
                log(&format!(
                    "WARNING: server {name} ({id}) is gone from the cloud; its jobs are lost"
                ));
                forget_node(sh, cloud, &name, false);
                continue;
            }
            Ok(Ok(Some(i))) if i.status != "ACTIVE" => {
                Some(format!("the cloud has it {}", i.status))
            }
            Ok(Err(e)) => {
                // The cloud not answering says nothing about the server.
                log(&format!("checking server {name}: {e}"));
                None
            }
            Err(e) => Some(e.to_string()),
            Ok(Ok(Some(_))) => (!remote.alive(Duration::from_secs(15)).await)
                .then(|| "it does not answer ssh".to_string()),
        };
        match problem {
            Some(why) => mark_bad(cloud, &name, why, false),
            None => {
                let mut nodes = lock(&cloud.nodes);
                if let Some(n) = nodes.iter_mut().find(|n| n.name == name) {
                    if n.bad.as_ref().is_some_and(|b| !b.permanent) {
                        log(&format!("server {name} recovered; it takes work again"));
                        n.bad = None;
                    }
                }
            }
        }
    }
    check_earlier(cloud).await;
    sh.wake.notify_one();
}

/// Drops a server from the list and ends its runners' sessions (their jobs are then lost and
/// retried by the usual policy).
/// With `destroying`, it is counted as being destroyed in the same step, so no pass sees it
/// neither listed nor counted.
fn forget_node(sh: &Arc<Shared>, cloud: &Cloud, name: &str, destroying: bool) -> Option<Node> {
    let node = {
        let mut nodes = lock(&cloud.nodes);
        let i = nodes.iter().position(|n| n.name == name)?;
        if destroying {
            *lock(&cloud.destroying) += 1;
        }
        nodes.remove(i)
    };
    cloud.save_servers();
    sh.wake.notify_one();
    Some(node)
}

/// Destroys a server: its destroy script, then the cloud's delete.
pub(super) async fn destroy_node(
    sh: &Arc<Shared>,
    cloud: &Arc<Cloud>,
    name: &str,
    why: &str,
) -> bool {
    let Some(node) = forget_node(sh, cloud, name, true) else {
        return false;
    };
    let done = destroy_forgotten(cloud, node, why).await;
    *lock(&cloud.destroying) -= 1;
    sh.wake.notify_one();
    done
}

async fn destroy_forgotten(cloud: &Arc<Cloud>, node: Node, why: &str) -> bool {
    log(&format!(
        "destroying server {} ({}): {why}",
        node.name, node.ip
    ));
    if let Some(script) = &cloud.s.destroy_script {
        if node.bad.is_none() {
            if let Err(e) = run_script(&node.remote, script, "/tmp/.destroy_script").await {
                log(&format!("server {}: {e:#}", node.name));
            }
        }
    }
    let _ = node.remote.run("sync").await;
    match destroy_instance(cloud, &node.id).await {
        Ok(_) => {
            *lock(&cloud.quota) = None;
            true
        }
        Err(e) => {
            log(&format!("destroying server {}: {e}", node.name));
            false
        }
    }
}

/// Destroys bad servers (all, or the one named), as `cloud servers --confirmdead` asks.
pub(super) async fn confirm_dead(
    sh: &Arc<Shared>,
    cloud: &Arc<Cloud>,
    only: Option<String>,
) -> Vec<String> {
    let bad: Vec<String> = lock(&cloud.nodes)
        .iter()
        .filter(|n| n.bad.is_some())
        .filter(|n| only.as_ref().is_none_or(|o| *o == n.id || *o == n.name))
        .map(|n| n.name.clone())
        .collect();
    let mut out = Vec::new();
    for name in bad {
        if destroy_node(sh, cloud, &name, "confirmed dead").await {
            out.push(name);
        }
    }
    out
}

/// Destroys the server with this name, hostname or id, bad or not (`cloud servers --destroy`).
pub(super) async fn destroy_named(
    sh: &Arc<Shared>,
    cloud: &Arc<Cloud>,
    server: &str,
) -> Vec<String> {
    let name = lock(&cloud.nodes)
        .iter()
        .find(|n| n.name == server || n.id == server || wr::provider::host_name(&n.name) == server)
        .map(|n| n.name.clone());
    match name {
        Some(name) if destroy_node(sh, cloud, &name, "destroyed on request").await => vec![name],
        _ => Vec::new(),
    }
}

/// Destroys every server (a clean stop).
pub(super) async fn destroy_all(sh: &Arc<Shared>, cloud: &Arc<Cloud>) {
    let names: Vec<String> = lock(&cloud.nodes).iter().map(|n| n.name.clone()).collect();
    for name in names {
        destroy_node(sh, cloud, &name, "the manager stops").await;
    }
}

/// Shell that, on its server, prints `alive` while an earlier manager's runner runs (its
/// command line shows it is that runner: pids are reused); once it is gone, ends the command
/// it left, if its process group is still there.
fn earlier_script(h: &Held) -> String {
    let alive = match h.pid {
        Some(p) => format!(
            "grep -qa -- {} /proc/{p}/cmdline 2>/dev/null",
            quote(&h.runner)
        ),
        None => "false".to_string(),
    };
    let group = match h.cmd_pid {
        // /proc/<pid>/stat: pid (comm) state ppid pgrp; a command leads its own group.
        Some(g) => format!(
            "if [ \"$(cut -d' ' -f5 /proc/{g}/stat 2>/dev/null)\" = {g} ]; then kill -KILL -- -{g}; fi"
        ),
        None => "true".to_string(),
    };
    format!("if {alive}; then echo alive; else {group}; fi; true")
}

/// Looks for each earlier manager's runner on its server, as the check of the servers does
/// for them: its ssh session, which tells of our own runners, is not ours. One that is gone
/// has the command it left ended and its job let go: the next pass gives it up (retried by
/// its policy), never beside its first attempt.
async fn check_earlier(cloud: &Arc<Cloud>) {
    let list: Vec<(String, Held, Option<Arc<Remote>>)> = {
        let nodes = lock(&cloud.nodes);
        lock(&cloud.earlier)
            .iter()
            .map(|(id, e)| {
                let remote = nodes
                    .iter()
                    .find(|n| n.name == e.node)
                    .map(|n| n.remote.clone());
                (id.clone(), e.held.clone(), remote)
            })
            .collect()
    };
    for (id, held, remote) in list {
        let Some(remote) = remote else { continue };
        let looked =
            tokio::time::timeout(Duration::from_secs(15), remote.run(&earlier_script(&held))).await;
        match looked {
            Ok(Ok(out)) if out.trim() == "alive" => {}
            Ok(Ok(_)) => {
                log(&format!(
                    "job {}: its runner {id} (an earlier manager's) on {} is gone; the command it left is ended",
                    held.id, remote.host
                ));
                lock(&cloud.earlier).remove(&id);
            }
            // The server's own check says what is wrong with it.
            Ok(Err(_)) | Err(_) => {}
        }
    }
}

/// Takes over the servers an earlier manager left (this deployment's, but the head node),
/// before the first pass. One that is not ACTIVE or does not answer ssh within 15 s is
/// destroyed: nothing there can report. The others are kept: the runners at work there keep
/// their jobs, and a server the servers file describes takes new work like one of ours; one it
/// does not describe takes none and is destroyed once nothing runs there.
pub(super) async fn adopt(sh: &Arc<Shared>, cloud: &Arc<Cloud>) {
    let (p, prefix) = (cloud.s.provider.clone(), cloud.s.res.prefix.clone());
    let found = match tokio::task::spawn_blocking(move || p.instances(&prefix)).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return log(&format!("listing the servers an earlier manager left: {e}")),
        Err(e) => return log(&format!("listing the servers an earlier manager left: {e}")),
    };
    let head = cloud.s.res.head.as_ref().map(|h| h.id.clone());
    let found: Vec<Instance> = found
        .into_iter()
        .filter(|i| Some(&i.id) != head.as_ref())
        .collect();
    if found.is_empty() {
        return;
    }
    let saved: HashMap<String, Saved> = match std::fs::read(&cloud.s.servers_file) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            log(&format!(
                "{}: {e}; the servers it lists take no new work",
                cloud.s.servers_file.display()
            ));
            HashMap::new()
        }),
        Err(_) => HashMap::new(),
    };
    let held = match sh.with_queue(|q| q.held()).await {
        Ok(h) => h,
        Err(e) => {
            return log(&format!(
                "reading the jobs held before adopting servers: {e:#}"
            ))
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for inst in found {
        let saved = saved.get(&inst.name).filter(|s| s.id == inst.id).cloned();
        tasks.spawn(adopt_one(cloud.clone(), inst, saved));
    }
    while let Some(done) = tasks.join_next().await {
        let Ok(Some(node)) = done else { continue };
        // Their runners count as alive until the first check of the servers looks for them.
        let at_work: Vec<&Held> = held
            .iter()
            .filter(|h| server_of_runner(&h.runner) == Some(node.name.as_str()))
            .collect();
        log(&format!(
            "server {} ({}, {}) left by an earlier manager: adopted, {} of its jobs still held there{}",
            node.name,
            node.ip,
            node.flavor.name,
            at_work.len(),
            if node.kind.is_some() {
                ""
            } else {
                "; its kind is not known, so it takes no new work"
            }
        ));
        let mut earlier = lock(&cloud.earlier);
        for h in at_work {
            let e = Earlier {
                node: node.name.clone(),
                held: h.clone(),
            };
            earlier.insert(h.runner.clone(), e);
        }
        drop(earlier);
        lock(&cloud.nodes).push(node);
    }
    cloud.save_servers();
}

/// One server an earlier manager left: kept as a node, or destroyed.
async fn adopt_one(cloud: Arc<Cloud>, inst: Instance, saved: Option<Saved>) -> Option<Node> {
    let s = &cloud.s;
    let user = saved.as_ref().map_or(s.user.clone(), |x| x.user.clone());
    let flavor = s
        .flavors
        .iter()
        .find(|f| f.name == inst.flavor || f.id == inst.flavor);
    let reached = async {
        anyhow::ensure!(inst.status == "ACTIVE", "the cloud has it {}", inst.status);
        let ip = inst
            .ip
            .clone()
            .ok_or_else(|| anyhow!("it has no address"))?;
        let remote = Remote::connect(&user, &ip, &s.key, Duration::from_secs(15)).await?;
        // The CA, token and program may have changed with the manager.
        equip(&remote, s).await?;
        Ok::<_, anyhow::Error>((ip, remote))
    }
    .await;
    match reached {
        Ok((ip, remote)) => Some(Node {
            id: inst.id,
            name: inst.name,
            ip,
            // Without its flavor the plan cannot size it: it takes no work either.
            kind: saved.map(|x| x.kind).filter(|_| flavor.is_some()),
            flavor: flavor.cloned().unwrap_or_else(|| Flavor {
                id: inst.flavor.clone(),
                name: inst.flavor.clone(),
                vcpus: 0,
                ram: 0,
                disk: 0,
            }),
            user,
            remote: Arc::new(remote),
            bad: None,
            idle_since: Some(now()),
            adopted: true,
        }),
        Err(e) => {
            log(&format!(
                "server {} ({}) left by an earlier manager cannot be used ({e:#}): destroying it",
                inst.name, inst.id
            ));
            if let Err(e) = destroy_instance(&cloud, &inst.id).await {
                log(&format!("destroying server {}: {e}", inst.name));
            }
            None
        }
    }
}
