//! `drain`: takes one task out of its load balancer (`down`), puts it back (`up`), or asks
//! whether it is draining (`status`) or safe to kill (`safe-to-kill`), with the drain methods
//! setup-service uses (hacheck's spool API, http, noop, test). Short connect and total timeouts
//! keep a slow drain endpoint from stalling a deploy. stdout: one JSON document.

use anyhow::{anyhow, Result};
use clap::{Parser, ValueEnum};
use cluster::drain::{DrainConfig, DrainMethod, DrainTask};
use container::http::Timeouts;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  drain down --service shopfront --instance main --host 10.1.2.3 --port 31005
  drain safe-to-kill --service shopfront --instance main --host 10.1.2.3 --port 31005 --param delay=60
  drain status --method http --param is_draining.url_format='http://{host}:{port}/draining' \\
        --param is_draining.success_codes=200 ... --service s --instance i --host h --port 8888";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Action {
    /// Start draining: the load balancer stops sending the task new work.
    Down,
    /// Stop draining: the task takes work again.
    Up,
    /// Is the task draining?
    Status,
    /// Has the task drained long enough to be killed? Exit 0 yes, 1 no.
    SafeToKill,
}

/// Drain a task from its load balancer, or ask whether it is safe to kill.
///
/// The hacheck method (the default) speaks the hacheck spool API on port 6666 of the task's
/// host, once per registration (default <service>.<instance>): `down` POSTs status=down with an
/// expiration of delay × 10 seconds, `up` POSTs status=up, and a task is safe to kill when every
/// registration has been down for more than `delay` seconds (240). An endpoint that cannot be
/// reached is an error (exit 2), never a "safe".
#[derive(Debug, Parser)]
#[command(name = "drain", version, after_help = EXAMPLES)]
pub struct Cli {
    #[arg(value_enum)]
    pub action: Action,

    /// The drain method: noop, hacheck, http or test.
    #[arg(long, default_value = "hacheck")]
    pub method: String,

    /// A drain_method_params entry, KEY=VALUE; nested keys with dots (drain.url_format=…).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,

    #[arg(long)]
    pub service: String,

    #[arg(long)]
    pub instance: String,

    /// The host the task runs on.
    #[arg(long)]
    pub host: String,

    /// The task's port.
    #[arg(long)]
    pub port: u16,

    /// A name the task is registered under (repeatable; default <service>.<instance>).
    #[arg(long = "registration", value_name = "SERVICE.NAMESPACE")]
    pub registrations: Vec<String>,

    /// Seconds to wait for a connection to the drain endpoint.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub connect_timeout: f64,

    /// Seconds to wait for a whole answer from the drain endpoint.
    #[arg(long, default_value_t = 15.0, value_name = "SECONDS")]
    pub timeout: f64,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "EXIT STATUS",
        "0\tdone; for safe-to-kill: the task is safe to kill\n\
         1\tsafe-to-kill: the task is not (yet) safe to kill\n\
         2\tthe drain endpoint could not be reached or refused the change, or the arguments are wrong",
    ),
    ("FILES", "STATE\tthe test method's shared state, when --param state=STATE is given"),
    ("EXAMPLES", EXAMPLES),
];

/// `a.b=c` params as nested JSON; numbers stay numbers.
pub fn params_to_json(params: &[String]) -> Result<Map<String, Value>> {
    let mut root = Map::new();
    for p in params {
        let (key, value) = p
            .split_once('=')
            .ok_or_else(|| anyhow!("--param {p:?}: expected KEY=VALUE"))?;
        let value = value
            .parse::<f64>()
            .ok()
            .filter(|_| !value.is_empty())
            .map_or_else(|| json!(value), |n| json!(n));
        let mut node = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            node = node
                .entry(part.to_string())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .ok_or_else(|| anyhow!("--param {p:?}: {part} is both a value and a group"))?;
        }
        node.insert(parts[parts.len() - 1].to_string(), value);
    }
    Ok(root)
}

/// stdout: the action, the method, the task, and what the method answered.
#[derive(Debug, Serialize)]
pub struct Answer<'a> {
    pub action: String,
    pub method: &'static str,
    pub task: &'a DrainTask,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draining: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_to_kill: Option<bool>,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let params = params_to_json(&cli.params)?;
    let timeouts = Timeouts {
        connect: Duration::from_secs_f64(cli.connect_timeout),
        total: Duration::from_secs_f64(cli.timeout),
    };
    let config = DrainConfig::parse(&cli.method, &params)?;
    let method = DrainMethod::new(&config, timeouts);
    let task = DrainTask::new(
        &cli.service,
        &cli.instance,
        &cli.host,
        cli.port,
        cli.registrations.clone(),
    );
    let rt = cli::runtime()?;
    let mut out = Answer {
        action: cli
            .action
            .to_possible_value()
            .expect("no hidden actions")
            .get_name()
            .to_string(),
        method: method.name(),
        task: &task,
        draining: None,
        safe_to_kill: None,
    };
    rt.block_on(async {
        match cli.action {
            Action::Down => method
                .drain(&task)
                .await
                .map(|()| out.draining = Some(true)),
            Action::Up => method
                .stop_draining(&task)
                .await
                .map(|()| out.draining = Some(false)),
            Action::Status => method
                .is_draining(&task)
                .await
                .map(|d| out.draining = Some(d)),
            Action::SafeToKill => method
                .is_safe_to_kill(&task)
                .await
                .map(|safe| out.safe_to_kill = Some(safe)),
        }
    })?;
    cli::print_json_line(&out)?;
    Ok(ExitCode::from(match out.safe_to_kill {
        Some(false) => 1,
        _ => 0,
    }))
}
