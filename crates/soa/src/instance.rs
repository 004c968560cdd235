//! The typed parts of an instance config: one struct per instance kind (long-running, scheduled;
//! adhoc has only the common keys), and the enums the tools decide on (network, health-check
//! mode, bounce method, drain method). The loader (`service::InstanceConfig::build`) fills them
//! once, with PaaSTA's defaults applied (docs/paasta.md §3–§7); nothing downstream reads a raw
//! key by name.

use std::path::PathBuf;

/// The container network: Docker's bridge with a published port, or the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    #[default]
    Bridge,
    Host,
}

/// The port a service listens on inside its container when `container_port` is not set.
pub const DEFAULT_CONTAINER_PORT: u16 = 8888;

/// How a long-running task's health is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthcheckMode {
    Http,
    Https,
    Tcp,
    Cmd,
}

impl HealthcheckMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(Self::Http),
            "https" => Some(Self::Https),
            "tcp" => Some(Self::Tcp),
            "cmd" => Some(Self::Cmd),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tcp => "tcp",
            Self::Cmd => "cmd",
        }
    }
}

/// A resolved health check: the instance's keys over its smartstack namespace's, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub mode: HealthcheckMode,
    /// The http/https path.
    pub path: String,
    /// The cmd mode's command.
    pub command: String,
    pub grace_seconds: f64,
    pub interval_seconds: f64,
    pub timeout_seconds: f64,
    pub max_consecutive_failures: u64,
}

/// How old tasks give way to new ones (docs/paasta.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BounceMethod {
    #[default]
    Crossover,
    Brutal,
    Upthendown,
    Downthenup,
}

impl BounceMethod {
    pub const NAMES: &'static str = "crossover, brutal, upthendown or downthenup";

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "crossover" => Some(Self::Crossover),
            "brutal" => Some(Self::Brutal),
            "upthendown" => Some(Self::Upthendown),
            "downthenup" => Some(Self::Downthenup),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crossover => "crossover",
            Self::Brutal => "brutal",
            Self::Upthendown => "upthendown",
            Self::Downthenup => "downthenup",
        }
    }
}

impl std::fmt::Display for BounceMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value the loader cannot use: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KeyError {
    pub key: &'static str,
    pub message: String,
}

/// One action of the http drain method.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAction {
    pub url_format: String,
    pub method: String,
    /// Inclusive ranges.
    pub success_codes: Vec<(u16, u16)>,
}

/// The http drain method's four actions.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpDrain {
    pub drain: HttpAction,
    pub stop_draining: HttpAction,
    pub is_draining: HttpAction,
    pub is_safe_to_kill: HttpAction,
}

/// A drain method with its parameters (docs/paasta.md §5).
#[derive(Debug, Clone, PartialEq)]
pub enum DrainConfig {
    Noop,
    /// For tests: draining, and safe `delay` s after the drain; kept in memory or in `state`.
    Test {
        delay: f64,
        state: Option<PathBuf>,
    },
    Hacheck {
        port: u16,
        delay: f64,
        expiration: f64,
    },
    Http(Box<HttpDrain>),
}

impl DrainConfig {
    pub const NAMES: &'static str = "noop, hacheck, http or test";

    /// The method `name` with `drain_method_params` (given as JSON, as the drain binary's
    /// `--param`s are too); the error names the key (drain_method or drain_method_params), the
    /// parameter and what was expected.
    pub fn parse(
        name: &str,
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<DrainConfig, KeyError> {
        match Self::with_params(name, params) {
            Ok(Some(config)) => Ok(config),
            Ok(None) => Err(KeyError {
                key: "drain_method",
                message: format!("drain_method is {name:?}, expected {}", DrainConfig::NAMES),
            }),
            Err(message) => Err(KeyError {
                key: "drain_method_params",
                message,
            }),
        }
    }

    /// The method `name` with its parameters; None when no method has that name.
    fn with_params(
        name: &str,
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<DrainConfig>, String> {
        let num = |key: &str, default: f64| -> Result<f64, String> {
            match params.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .ok_or_else(|| {
                        format!("drain_method_params.{key} is {v}, expected a number of at least 0")
                    }),
            }
        };
        match name {
            "noop" => Ok(Some(DrainConfig::Noop)),
            "test" => Ok(Some(DrainConfig::Test {
                delay: num("delay", 0.0)?,
                state: params
                    .get("state")
                    .and_then(serde_json::Value::as_str)
                    .map(PathBuf::from),
            })),
            "hacheck" => {
                let delay = num("delay", 240.0)?;
                let port = num("hacheck_port", 6666.0)?;
                if port > 65535.0 || port.fract() != 0.0 {
                    return Err(format!(
                        "drain_method_params.hacheck_port is {port}, expected a port number"
                    ));
                }
                Ok(Some(DrainConfig::Hacheck {
                    port: port as u16,
                    delay,
                    expiration: num("expiration", delay * 10.0)?,
                }))
            }
            "http" => {
                let action = |action: &str| -> Result<HttpAction, String> {
                    let spec = params.get(action).and_then(serde_json::Value::as_object).ok_or_else(|| {
                        format!("drain_method_params.{action} is missing: the http drain method needs {{url_format, method, success_codes}} for drain, stop_draining, is_draining and is_safe_to_kill")
                    })?;
                    let text = |k: &str| spec.get(k).and_then(serde_json::Value::as_str);
                    Ok(HttpAction {
                        url_format: text("url_format")
                            .ok_or_else(|| {
                                format!("drain_method_params.{action}.url_format is missing")
                            })?
                            .to_string(),
                        method: text("method").unwrap_or("GET").to_uppercase(),
                        success_codes: parse_codes(text("success_codes").unwrap_or("200-399"))
                            .map_err(|e| format!("drain_method_params.{action}.{e}"))?,
                    })
                };
                Ok(Some(DrainConfig::Http(Box::new(HttpDrain {
                    drain: action("drain")?,
                    stop_draining: action("stop_draining")?,
                    is_draining: action("is_draining")?,
                    is_safe_to_kill: action("is_safe_to_kill")?,
                }))))
            }
            _ => Ok(None),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            DrainConfig::Noop => "noop",
            DrainConfig::Test { .. } => "test",
            DrainConfig::Hacheck { .. } => "hacheck",
            DrainConfig::Http(_) => "http",
        }
    }
}

/// A `success_codes` text with a part that is not a status code or range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("success_codes {codes:?}: {part:?} is not a status code or range like 200-399")]
pub struct CodesError {
    pub codes: String,
    pub part: String,
}

/// Parses `success_codes` such as "200-399" or "200,202,300-302".
pub fn parse_codes(s: &str) -> Result<Vec<(u16, u16)>, CodesError> {
    s.split(',')
        .map(|part| {
            let part = part.trim();
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            match (a.trim().parse(), b.trim().parse()) {
                (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
                _ => Err(CodesError {
                    codes: s.to_string(),
                    part: part.to_string(),
                }),
            }
        })
        .collect()
}

/// `deploy_whitelist: [attribute, [value, …]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whitelist {
    pub attribute: String,
    pub values: Vec<String>,
}

/// Where a task may be placed: the keys every Mesos instance has (PaaSTA's deploy constraints).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    /// `constraints` when set: they replace the computed ones.
    pub constraints: Option<Vec<Vec<String>>>,
    pub extra_constraints: Vec<Vec<String>>,
    pub deploy_blacklist: Vec<Vec<String>>,
    pub deploy_whitelist: Option<Whitelist>,
    pub pool: String,
}

/// The keys of a long-running (marathon-type) instance.
#[derive(Debug, Clone, PartialEq)]
pub struct LongRunning {
    /// The configured count; the desired one is 0 while the desired state is stop.
    pub instances: u64,
    /// 0: any port.
    pub host_port: u16,
    /// `<service>.<namespace>` names the tasks are registered under (default: the instance's
    /// namespace).
    pub registrations: Vec<String>,
    /// The registrations were written (`registrations` or `nerve_ns`), not the default: a
    /// namespace they name must exist in smartstack.yaml.
    pub registrations_named: bool,
    /// The smartstack namespace: the first registration's, else `nerve_ns`, else the instance.
    pub namespace: String,
    /// The namespace's `proxy_port` in smartstack.yaml: the instance is load balanced.
    pub proxy_port: Option<u16>,
    /// The namespace's `discover` attribute (GROUP_BY constraint), default `region`.
    pub discover: String,
    pub healthcheck: Option<HealthCheck>,
    pub backoff_factor: f64,
    pub max_launch_delay_seconds: f64,
    pub accepted_resource_roles: Option<Vec<String>>,
    pub bounce_method: BounceMethod,
    /// In (0, 1].
    pub bounce_margin_factor: f64,
    /// `bounce_health_params.min_task_uptime`: a new task counts as happy only after this long.
    pub min_task_uptime: f64,
    /// `drain_method` with its params; default hacheck when load balanced, else noop.
    pub drain: DrainConfig,
    /// Percent of the expected tasks below which the replication check is CRITICAL.
    pub replication_threshold: f64,
}

impl LongRunning {
    /// The task count to run: `instances`, or none while the desired state is stop.
    pub fn desired(&self, stopped: bool) -> u64 {
        if stopped {
            0
        } else {
            self.instances
        }
    }
}

/// The keys of a scheduled (chronos-type) job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub schedule: Option<String>,
    pub parents: Option<Vec<String>>,
    /// An ISO 8601 duration, default PT60S.
    pub epsilon: String,
    /// Whether `epsilon` was written (validation checks only what was written).
    pub epsilon_set: bool,
    pub retries: u64,
    pub schedule_time_zone: Option<String>,
    pub disabled: bool,
}

/// What an instance is, with the keys only its kind has.
#[derive(Debug, Clone, PartialEq)]
pub enum KindConfig {
    LongRunning(Box<LongRunning>),
    Scheduled(Box<Scheduled>),
    Adhoc,
}
