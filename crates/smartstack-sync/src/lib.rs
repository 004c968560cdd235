//! `smartstack-sync`: the discovery half of SmartStack on one host (docs/paasta.md §10). It
//! reads the long-running instances of the cluster and their registrations, the namespaces of
//! smartstack.yaml, and the cluster's running tasks; writes an HAProxy configuration with a
//! frontend on each namespace's `proxy_port` and a backend of one server per task; and, when
//! that configuration changed, checks it with `haproxy -c`, installs it atomically and reloads
//! HAProxy (master-worker: SIGUSR2, no connection dropped), or starts HAProxy if none runs.
//!
//! Each server is checked through the hacheck of its host
//! (`/http/<namespace>/<port>/<healthcheck_uri>`, or `/tcp/<namespace>/<port>/`), which
//! answers 503 while the drain method has the task down in the spool, so a drained task stops
//! getting traffic before it is killed, and a dead one within `fall × inter`.
//!
//! The configuration is a pure function of the state read (`render`); a run that changes
//! nothing writes nothing and signals no one.

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Parser;
use cluster::backend::App;
use serde::Serialize;
use soa::{InstanceType, Problem, Service};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  smartstack-sync --haproxy-config /var/run/smartstack/haproxy.cfg
  smartstack-sync --dry-run | less
  smartstack-sync -c norcal-prod --backend snapshot:state.json --dry-run";

/// Route each namespace's proxy_port to its healthy tasks: write HAProxy's config, check it, reload HAProxy.
#[derive(Debug, Parser)]
#[command(name = "smartstack-sync", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub scope: cli::ClusterArgs,
    /// The HAProxy configuration written (its directory also holds haproxy.pid and
    /// haproxy.sock).
    #[arg(
        long,
        default_value = "/var/run/smartstack/haproxy.cfg",
        value_name = "FILE"
    )]
    pub haproxy_config: PathBuf,
    /// The HAProxy binary.
    #[arg(long, default_value = "haproxy", value_name = "PATH")]
    pub haproxy: PathBuf,
    /// The address frontends listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The port of every host's hacheck (the drain method's).
    #[arg(long, default_value_t = 6666)]
    pub hacheck_port: u16,
    /// Seconds between two checks of a server.
    #[arg(long, default_value = "1", value_name = "SECONDS")]
    pub check_interval: cli::Seconds,
    /// Failed checks in a row that take a server out.
    #[arg(long, default_value_t = 2)]
    pub fall: u32,
    /// Passed checks in a row that put a server back.
    #[arg(long, default_value_t = 1)]
    pub rise: u32,
    /// Print the configuration that would be written; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "OUTPUT",
        "One JSON line per namespace: {namespace, proxy_port, mode, servers_up, servers_total, changed}; \
         servers_up counts the tasks the cluster calls healthy (HAProxy's own checks decide traffic). \
         With --dry-run, the configuration instead.",
    ),
    (
        "EXIT STATUS",
        "0\tthe configuration is in place (changed or not) and HAProxy runs it\n\
         1\tsome registrations could not be routed (a namespace missing from smartstack.yaml, a proxy_port used twice): said on stderr, the rest is in place\n\
         2\tan error: the cluster or the soa-configs could not be read, HAProxy rejected the configuration (the old one keeps serving) or could not be reloaded",
    ),
    (
        "FILES",
        "<soa dir>/<service>/smartstack.yaml\tthe namespaces: proxy_port, mode (http, tcp), healthcheck_uri, timeout_*_ms, balance\n\
         <haproxy config>\twritten whole (temp file and rename), only when it changed\n\
         <haproxy config dir>/haproxy.pid\tthe HAProxy master's pid (started with -W -D when none runs)",
    ),
    ("EXAMPLES", EXAMPLES),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Http,
    Tcp,
}

/// One namespace of smartstack.yaml that is load balanced (it has a proxy_port).
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    /// `<service>.<namespace>`.
    pub name: String,
    pub proxy_port: u16,
    pub mode: Mode,
    pub healthcheck_uri: String,
    pub timeout_connect_ms: u64,
    pub timeout_server_ms: u64,
    pub timeout_client_ms: u64,
    pub balance: String,
}

/// A task behind a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Server {
    pub host: String,
    pub port: u16,
    /// The cluster calls it healthy (for the report; HAProxy's checks decide traffic).
    pub happy: bool,
}

/// How checks run.
#[derive(Debug, Clone)]
pub struct Options {
    pub bind: String,
    pub hacheck_port: u16,
    pub inter_ms: u64,
    pub fall: u32,
    pub rise: u32,
    /// The admin socket (also how a reload hands the listeners over).
    pub socket: PathBuf,
}

/// The load-balanced namespaces of one service's smartstack.yaml.
pub fn namespaces_of(service: &Service) -> Vec<Namespace> {
    let Some(sm) = &service.smartstack else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in &sm.map {
        let Some(ns) = k.as_str() else { continue };
        let num = |key: &str| v.get(key).and_then(serde_yaml::Value::as_u64);
        let Some(proxy_port) = num("proxy_port").and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        let text = |key: &str| v.get(key).and_then(serde_yaml::Value::as_str);
        out.push(Namespace {
            name: format!("{}.{ns}", service.name),
            proxy_port,
            mode: if text("mode") == Some("tcp") {
                Mode::Tcp
            } else {
                Mode::Http
            },
            healthcheck_uri: text("healthcheck_uri")
                .unwrap_or("/status")
                .trim_start_matches('/')
                .to_string(),
            timeout_connect_ms: num("timeout_connect_ms").unwrap_or(1000),
            timeout_server_ms: num("timeout_server_ms").unwrap_or(60_000),
            timeout_client_ms: num("timeout_client_ms").unwrap_or(60_000),
            balance: text("balance").unwrap_or("roundrobin").to_string(),
        });
    }
    out
}

/// A server's name: `<host>_<port>` (the check's URI takes the port back out of it, as HAProxy
/// has no per-server check URI).
fn server_name(s: &Server) -> String {
    format!("{}_{}", s.host.replace('_', "-"), s.port)
}

/// The HAProxy configuration for these namespaces and their servers.
pub fn render(
    namespaces: &[Namespace],
    servers: &BTreeMap<String, Vec<Server>>,
    o: &Options,
) -> String {
    let mut c = String::new();
    let mut line = |s: &str| {
        c.push_str(s);
        c.push('\n');
    };
    line("# Written by smartstack-sync; rewritten whenever the cluster changes: do not edit.");
    line("global");
    line("    master-worker");
    line("    maxconn 2000");
    line(&format!(
        "    stats socket {} mode 600 level admin expose-fd listeners",
        o.socket.display()
    ));
    line("defaults");
    line("    timeout connect 1s");
    line("    timeout client 60s");
    line("    timeout server 60s");
    line("    timeout check 2s");
    line("    option redispatch");
    line("    retries 3");
    for ns in namespaces {
        let mode = match ns.mode {
            Mode::Http => "http",
            Mode::Tcp => "tcp",
        };
        line("");
        line(&format!("frontend {}", ns.name));
        line(&format!("    mode {mode}"));
        line(&format!("    bind {}:{}", o.bind, ns.proxy_port));
        if ns.mode == Mode::Http {
            // A reload's old worker answers a kept-alive client's next request (with
            // Connection: close) instead of closing the idle connection under it.
            line("    option idle-close-on-response");
        }
        line(&format!("    timeout client {}ms", ns.timeout_client_ms));
        line(&format!("    default_backend {}", ns.name));
        line("");
        line(&format!("backend {}", ns.name));
        line(&format!("    mode {mode}"));
        line(&format!("    balance {}", ns.balance));
        line(&format!("    timeout connect {}ms", ns.timeout_connect_ms));
        line(&format!("    timeout server {}ms", ns.timeout_server_ms));
        if ns.mode == Mode::Http {
            // A request that found its server gone is tried on another.
            line("    retry-on all-retryable-errors");
        }
        line("    option httpchk");
        let check = match ns.mode {
            Mode::Http => format!(
                "/http/{}/%[srv_name,field(2,_)]/{}",
                ns.name, ns.healthcheck_uri
            ),
            Mode::Tcp => format!("/tcp/{}/%[srv_name,field(2,_)]/", ns.name),
        };
        line(&format!("    http-check send meth GET uri-lf {check}"));
        // hacheck answers 404 for a drained task: out of rotation at once, not after `fall`.
        line("    http-check disable-on-404");
        line(&format!(
            "    default-server check port {} inter {}ms fall {} rise {}",
            o.hacheck_port, o.inter_ms, o.fall, o.rise
        ));
        for s in servers.get(&ns.name).into_iter().flatten() {
            line(&format!(
                "    server {} {}:{}",
                server_name(s),
                s.host,
                s.port
            ));
        }
    }
    c
}

/// What one run found: namespaces to route, their servers, and what could not be routed.
#[derive(Debug, Default)]
pub struct Routing {
    pub namespaces: Vec<Namespace>,
    pub servers: BTreeMap<String, Vec<Server>>,
    pub problems: Vec<Problem>,
}

/// The namespaces of the services with instances here (and those their instances register in),
/// and each registration's live tasks. A registration written in the instance (`registrations`,
/// `nerve_ns`) whose namespace smartstack.yaml lacks, or a proxy_port two namespaces share, is a
/// problem naming the file and instance; the default registration of an instance whose
/// namespace is not there is simply not load balanced, as in PaaSTA.
pub fn routing(soa_dir: &Path, selected: &[soa::select::Selected], apps: &[App]) -> Routing {
    let mut services: HashMap<String, Option<Arc<Service>>> = HashMap::new();
    for s in selected {
        services
            .entry(s.service.name.clone())
            .or_insert_with(|| Some(s.service.clone()));
    }
    let mut by_instance: HashMap<(&str, &str), Vec<&App>> = HashMap::new();
    for app in apps {
        by_instance
            .entry((app.service.as_str(), app.instance.as_str()))
            .or_default()
            .push(app);
    }
    let mut out = Routing::default();
    let mut defined: BTreeMap<String, Namespace> = BTreeMap::new();
    for s in services.values().flatten() {
        for ns in namespaces_of(s) {
            defined.insert(ns.name.clone(), ns);
        }
    }
    for sel in selected {
        let Some(lr) = sel.config.long_running() else {
            continue;
        };
        for reg in &lr.registrations {
            let Some((svc, ns)) = reg.split_once('.') else {
                out.problems.push(
                    Problem::new(
                        &sel.config.file,
                        format!("registration {reg:?} is not written <service>.<namespace>"),
                    )
                    .instance_of(&sel.config.service, &sel.config.instance)
                    .key("registrations"),
                );
                continue;
            };
            // A service registered in but without instances here is read once, its
            // namespaces with it.
            let service = services
                .entry(svc.to_string())
                .or_insert_with(|| {
                    let loaded = Service::load(soa_dir, svc).ok().map(Arc::new);
                    for n in loaded.iter().flat_map(|s| namespaces_of(s)) {
                        defined.insert(n.name.clone(), n);
                    }
                    loaded
                })
                .clone();
            let Some(service) = service else {
                out.problems.push(
                    Problem::new(
                        &sel.config.file,
                        format!(
                            "registers in {reg}, but service {svc} cannot be read in {}",
                            soa_dir.display()
                        ),
                    )
                    .instance_of(&sel.config.service, &sel.config.instance)
                    .key("registrations"),
                );
                continue;
            };
            let in_file = service
                .smartstack
                .as_ref()
                .is_some_and(|sm| sm.map.contains_key(ns));
            if !in_file && !lr.registrations_named {
                // The default registration of an instance its service does not load balance.
                continue;
            }
            if !in_file {
                out.problems.push(
                    Problem::new(
                        &service.path("smartstack.yaml"),
                        format!(
                            "no namespace {ns} in smartstack.yaml, but instance {}.{} registers in {reg}",
                            sel.config.service, sel.config.instance
                        ),
                    )
                    .instance_of(&sel.config.service, &sel.config.instance),
                );
                continue;
            }
            if !defined.contains_key(reg) {
                continue; // no proxy_port: not load balanced
            }
            let servers = out.servers.entry(reg.clone()).or_default();
            for app in by_instance
                .get(&(sel.config.service.as_str(), sel.config.instance.as_str()))
                .into_iter()
                .flatten()
            {
                for t in app.tasks.iter().filter(|t| t.is_live()) {
                    if let Some(port) = t.port {
                        servers.push(Server {
                            host: t.host.clone(),
                            port,
                            happy: t.is_happy(),
                        });
                    }
                }
            }
        }
    }
    let mut ports: BTreeMap<u16, String> = BTreeMap::new();
    for (name, ns) in defined {
        if let Some(first) = ports.get(&ns.proxy_port) {
            let svc = name.split_once('.').map_or(name.as_str(), |(s, _)| s);
            out.problems.push(Problem::new(
                &soa_dir.join(svc).join("smartstack.yaml"),
                format!(
                    "namespace {name}: proxy_port {} is also {first}'s; it is left out",
                    ns.proxy_port
                ),
            ));
            continue;
        }
        ports.insert(ns.proxy_port, name);
        out.namespaces.push(ns);
    }
    for list in out.servers.values_mut() {
        list.sort();
        list.dedup_by(|a, b| a.host == b.host && a.port == b.port);
    }
    out
}

#[derive(Serialize)]
struct Line<'a> {
    namespace: &'a str,
    proxy_port: u16,
    mode: Mode,
    servers_up: usize,
    servers_total: usize,
    changed: bool,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let system = soa::SystemConfig::load(&soa::system::default_dir())?;
    let cluster = system.cluster_or(cli.scope.cluster.as_deref())?;
    let (selection, apps) = cluster::select_with_apps(
        &cli.scope.soa_dir,
        &cluster,
        &[InstanceType::Marathon],
        &[],
        &cli.scope.backend.backend,
        cli.scope.backend.engine_timeout.0,
    );
    selection
        .report("smartstack-sync")
        .map_err(|e| anyhow!(e))?;
    let apps = apps?;
    let routing = routing(&cli.scope.soa_dir, &selection.selected, &apps);
    for p in &routing.problems {
        eprintln!("smartstack-sync: {p}");
    }
    // HAProxy reads a relative socket path as an address: everything beside the config is
    // named absolutely.
    let dir = std::path::absolute(
        cli.haproxy_config
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )?;
    let options = Options {
        bind: cli.bind.clone(),
        hacheck_port: cli.hacheck_port,
        inter_ms: cli.check_interval.0.as_millis().max(1) as u64,
        fall: cli.fall,
        rise: cli.rise,
        socket: dir.join("haproxy.sock"),
    };
    let text = render(&routing.namespaces, &routing.servers, &options);
    if cli.dry_run {
        print!("{text}");
        return Ok(exit(&routing));
    }
    let changed =
        std::fs::read_to_string(&cli.haproxy_config).ok().as_deref() != Some(text.as_str());
    let pid_file = dir.join("haproxy.pid");
    if changed {
        std::fs::create_dir_all(&dir).with_context(|| format!("making {}", dir.display()))?;
        install(&cli.haproxy, &cli.haproxy_config, &text)?;
    }
    let running = master_pid(&pid_file);
    match (running, changed) {
        (Some(pid), true) => {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGUSR2,
            )
            .with_context(|| {
                format!(
                    "reloading HAProxy (master pid {pid} from {})",
                    pid_file.display()
                )
            })?;
        }
        (Some(_), false) => {}
        (None, _) => start(&cli.haproxy, &cli.haproxy_config, &pid_file)?,
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for ns in &routing.namespaces {
        let servers = routing
            .servers
            .get(&ns.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        serde_json::to_writer(
            &mut out,
            &Line {
                namespace: &ns.name,
                proxy_port: ns.proxy_port,
                mode: ns.mode,
                servers_up: servers.iter().filter(|s| s.happy).count(),
                servers_total: servers.len(),
                changed,
            },
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(exit(&routing))
}

fn exit(routing: &Routing) -> ExitCode {
    if routing.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(cli::EXIT_NEGATIVE)
    }
}

/// Checks `text` with `haproxy -c` from a temp file beside `path`, then renames it over `path`:
/// a configuration HAProxy rejects is never installed.
fn install(haproxy: &Path, path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".haproxy.cfg.")
        .tempfile_in(dir)
        .with_context(|| format!("a temp file in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    let out = std::process::Command::new(haproxy)
        .arg("-c")
        .arg("-f")
        .arg(tmp.path())
        .output()
        .with_context(|| format!("running {} -c", haproxy.display()))?;
    if !out.status.success() {
        bail!(
            "HAProxy rejected the new configuration; {} is unchanged and keeps serving:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| l.contains("[ALERT]"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    tmp.persist(path)
        .map_err(|e| anyhow!("installing {}: {}", path.display(), e.error))?;
    Ok(())
}

/// The pid in `pid_file` if that process is alive.
fn master_pid(pid_file: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
        .ok()
        .map(|_| pid)
}

/// Starts HAProxy in master-worker mode, daemonized, with its pid in `pid_file`.
fn start(haproxy: &Path, config: &Path, pid_file: &Path) -> Result<()> {
    let out = std::process::Command::new(haproxy)
        .arg("-W")
        .arg("-D")
        .arg("-p")
        .arg(pid_file)
        .arg("-f")
        .arg(config)
        .output()
        .with_context(|| format!("starting {}", haproxy.display()))?;
    if !out.status.success() {
        bail!(
            "HAProxy did not start with {}: {}",
            config.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    eprintln!("smartstack-sync: started HAProxy ({})", pid_file.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str, port: u16, mode: Mode) -> Namespace {
        Namespace {
            name: name.into(),
            proxy_port: port,
            mode,
            healthcheck_uri: "status".into(),
            timeout_connect_ms: 1000,
            timeout_server_ms: 60_000,
            timeout_client_ms: 60_000,
            balance: "roundrobin".into(),
        }
    }

    #[test]
    fn a_frontend_and_a_backend_per_namespace_checked_through_hacheck() {
        let servers = BTreeMap::from([(
            "svc.main".to_string(),
            vec![
                Server {
                    host: "127.0.0.1".into(),
                    port: 31001,
                    happy: true,
                },
                Server {
                    host: "127.0.0.1".into(),
                    port: 31002,
                    happy: false,
                },
            ],
        )]);
        let o = Options {
            bind: "127.0.0.1".into(),
            hacheck_port: 6666,
            inter_ms: 1000,
            fall: 2,
            rise: 1,
            socket: "/run/s/haproxy.sock".into(),
        };
        let text = render(
            &[
                ns("svc.main", 20001, Mode::Http),
                ns("svc.db", 20002, Mode::Tcp),
            ],
            &servers,
            &o,
        );
        for want in [
            "frontend svc.main\n    mode http\n    bind 127.0.0.1:20001\n",
            "http-check send meth GET uri-lf /http/svc.main/%[srv_name,field(2,_)]/status\n",
            "default-server check port 6666 inter 1000ms fall 2 rise 1\n    server 127.0.0.1_31001 127.0.0.1:31001\n    server 127.0.0.1_31002 127.0.0.1:31002\n",
            "backend svc.db\n    mode tcp\n",
            "uri-lf /tcp/svc.db/%[srv_name,field(2,_)]/\n",
            "stats socket /run/s/haproxy.sock mode 600 level admin expose-fd listeners\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // The same state, the same bytes: nothing to reload.
        assert_eq!(
            text,
            render(
                &[
                    ns("svc.main", 20001, Mode::Http),
                    ns("svc.db", 20002, Mode::Tcp)
                ],
                &servers,
                &o
            )
        );
    }
}
