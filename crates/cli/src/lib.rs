//! What every binary shares at its edge: the options the master tools and the operator commands
//! repeat (soa dir, cluster, backend, timeouts of one type), the runtime builder, `finish` (the
//! exit status and error line), and JSON lines on stdout. Each binary flattens the groups it
//! needs into its own `Cli`; its own job stays in its crate.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

/// Exit status 1: a negative answer (invalid config, not safe, a failed run).
pub const EXIT_NEGATIVE: u8 = 1;
/// Exit status 2: an error (bad usage, unreadable input, an unreachable peer).
pub const EXIT_ERROR: u8 = 2;

/// A time limit in seconds, whole or not (`2`, `0.5`): every timeout flag has this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

/// A `Seconds` flag's text that is not a number of seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSeconds(pub String);

impl std::fmt::Display for NotSeconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not a number of seconds (e.g. 2 or 0.5)", self.0)
    }
}

impl std::error::Error for NotSeconds {}

impl FromStr for Seconds {
    type Err = NotSeconds;
    fn from_str(s: &str) -> Result<Self, NotSeconds> {
        s.trim()
            .parse::<f64>()
            .ok()
            .and_then(|n| Duration::try_from_secs_f64(n).ok())
            .map(Seconds)
            .ok_or_else(|| NotSeconds(s.to_string()))
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// Where the cluster runs, as every tool that reads or changes it takes it.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Where the cluster runs: docker (this host's engine), swarm (the Docker Swarm whose
    /// manager DOCKER_HOST names), marathon:URL[,URL…] (long-running instances on Marathon;
    /// http[s]://[user:password@]host:port, tried in turn; `marathon` alone: the system
    /// config's marathon_servers), chronos:URL[,URL…] (scheduled jobs on Chronos; `chronos`
    /// alone: the system config's chronos_config), or snapshot:FILE (a saved state, read-only:
    /// with --dry-run only).
    #[arg(long, default_value = "docker", value_name = "BACKEND", global = true)]
    pub backend: String,

    /// Seconds to wait for the Docker engine (or swarm manager) to answer.
    #[arg(long, default_value = "2", value_name = "SECONDS", global = true)]
    pub engine_timeout: Seconds,
}

/// Which cluster a tool reads, and where from: the soa-configs root, the cluster, the backend
/// (setup-service and check-replication through MasterArgs, smartstack-sync on each host).
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// The soa-configs root.
    #[arg(short = 'd', long = "soa-dir", env = "SOA_DIR", default_value = soa::service::DEFAULT_SOA_DIR)]
    pub soa_dir: PathBuf,

    /// The cluster (default: the system config's `cluster`).
    #[arg(short = 'c', long)]
    pub cluster: Option<String>,

    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The options of the tools cron runs on a master (setup-service, check-replication).
#[derive(Debug, Clone, Args)]
pub struct MasterArgs {
    #[command(flatten)]
    pub scope: ClusterArgs,

    /// The Sensu client to send events to (default: the system config's sensu_host and
    /// sensu_port).
    #[arg(long, value_name = "HOST:PORT")]
    pub sensu: Option<String>,

    /// Seconds the whole run may spend sending Sensu events (one connection); events past it
    /// are dropped, never waited for.
    #[arg(long, default_value = "5", value_name = "SECONDS")]
    pub sensu_timeout: Seconds,
}

/// The current-thread runtime a binary builds inside `run` when a crate it uses needs tokio.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Finishes `main`: `Ok` passes the status through; an error is printed as `<tool>: error: …`
/// with its causes, and exits 2, except a broken stdout pipe (`tool | head`), which exits 0.
pub fn finish(tool: &str, result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{tool}: error: {}", describe(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// An error and its causes on one line, each said once: a message that already quotes its
/// cause (`{path}: {source}`) is not followed by the cause again.
pub fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes one record as a JSON line on stdout and flushes it, so that a consumer in a pipeline
/// sees each line as it happens.
pub fn print_json_line(value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("{path}: {source}")]
        struct Io {
            path: String,
            source: std::io::Error,
        }
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::from(Io {
            path: "/x".into(),
            source: io,
        })
        .context("validating /x");
        assert_eq!(describe(&e), "validating /x: /x: No such file or directory");
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(describe(&plain), "outer: inner");
    }

    #[test]
    fn seconds() {
        assert_eq!("2".parse::<Seconds>(), Ok(Seconds(Duration::from_secs(2))));
        assert_eq!(
            "0.25".parse::<Seconds>(),
            Ok(Seconds(Duration::from_millis(250)))
        );
        assert!("-1".parse::<Seconds>().is_err());
        assert!("soon".parse::<Seconds>().is_err());
    }
}
