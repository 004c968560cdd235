//! Sensu events as PaaSTA sends them (docs/paasta.md §6): the check's result plus the routing
//! an instance's monitoring config gives it (team, runbook, tip, paging, alert timing). The
//! instance's own `monitoring:` keys override monitoring.yaml's. No team, no event: nobody would
//! be told.
//!
//! Building the event lives here; sending it (TCP to the Sensu client socket) is the callers'.

use crate::schema::parse_alert_duration;
use crate::{InstanceConfig, Service, SystemConfig};
use serde_json::{json, Value as Json};
use serde_yaml::Value;

pub const OK: u8 = 0;
pub const WARNING: u8 = 1;
pub const CRITICAL: u8 = 2;

/// Where the Sensu client listens: the system config's `sensu_host` / `sensu_port` (3030);
/// None when no host is configured.
pub fn address(system: &SystemConfig) -> Option<String> {
    let host = system.get("sensu_host").and_then(Json::as_str)?;
    let port = system
        .get("sensu_port")
        .and_then(Json::as_u64)
        .unwrap_or(3030);
    Some(format!("{host}:{port}"))
}

/// A monitoring key: the instance's `monitoring.<key>`, else monitoring.yaml's.
pub fn monitoring<'a>(
    service: &'a Service,
    config: &'a InstanceConfig,
    key: &str,
) -> Option<&'a Value> {
    monitoring_value(service, &config.monitoring, key)
}

/// A monitoring key of an instance whose own `monitoring` mapping is `own` (the loader asks
/// before the config exists).
pub(crate) fn monitoring_value<'a>(
    service: &'a Service,
    own: &'a serde_yaml::Mapping,
    key: &str,
) -> Option<&'a Value> {
    own.get(key)
        .or_else(|| service.monitoring.as_ref().and_then(|m| m.map.get(key)))
        .filter(|v| !v.is_null())
}

/// An event, serialized in PaaSTA's key order. Built by `event`; borrowed from the configs, so
/// thousands of them cost little.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event<'a> {
    pub name: String,
    pub status: u8,
    pub output: String,
    pub handler: &'static str,
    pub team: &'a str,
    pub runbook: Field<'a>,
    pub tip: Field<'a>,
    pub notification_email: Option<&'a Value>,
    pub interval: u32,
    pub page: Option<&'a Value>,
    pub realert_every: Json,
    pub dependencies: [(); 0],
    pub alert_after: Json,
    pub ticket: Field<'a>,
    pub project: Option<&'a Value>,
    pub priority: Option<&'a Value>,
    pub source: String,
    pub tags: Field<'a>,
    pub ttl: Option<&'a Value>,
    pub irc_channels: Option<&'a Value>,
    pub slack_channels: Option<&'a Value>,
    pub description: Option<&'a str>,
}

/// A monitoring value as configured, or the default.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Field<'a> {
    Set(&'a Value),
    Default(Json),
}

impl Event<'_> {
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }
}

/// alert_after / realert_every as seconds: a number, or a "2m"-style duration.
fn duration(v: Option<&Value>, default: i64) -> Json {
    match v {
        None => json!(default),
        Some(Value::Number(n)) => serde_json::to_value(n).unwrap_or(json!(default)),
        Some(Value::String(s)) => parse_alert_duration(s).map_or(json!(default), |n| json!(n)),
        Some(_) => json!(default),
    }
}

/// The event for check `name` of an instance; None when no team is configured.
pub fn event<'a>(
    service: &'a Service,
    config: &'a InstanceConfig,
    name: String,
    status: u8,
    output: String,
) -> Option<Event<'a>> {
    let get = |k: &str| monitoring(service, config, k);
    let or = |k: &str, default: Json| get(k).map_or(Field::Default(default), Field::Set);
    Some(Event {
        name,
        status,
        output,
        handler: "default",
        team: get("team")?.as_str()?,
        runbook: or(
            "runbook",
            json!("Please set a `runbook` field in monitoring.yaml"),
        ),
        tip: or("tip", json!("Please set a `tip` field in monitoring.yaml")),
        notification_email: get("notification_email"),
        interval: 60,
        page: get("page"),
        realert_every: duration(get("realert_every"), -1),
        dependencies: [],
        alert_after: duration(get("alert_after"), 120),
        ticket: or("ticket", json!(false)),
        project: get("project"),
        priority: get("priority"),
        source: format!("paasta-{}", config.cluster),
        tags: or("tags", json!([])),
        ttl: get("ttl"),
        irc_channels: get("irc_channels"),
        slack_channels: get("slack_channels"),
        description: service.description(),
    })
}
