//! Sensu events as PaaSTA sends them (shared/reference §6): the check's result plus the routing
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
    config
        .config
        .get("monitoring")
        .and_then(|m| m.get(key))
        .or_else(|| service.monitoring.as_ref().and_then(|m| m.map.get(key)))
        .filter(|v| !v.is_null())
}

fn to_json(v: &Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// alert_after / realert_every as seconds: a number, or a "2m"-style duration.
fn duration(v: Option<&Value>, default: i64) -> Json {
    match v {
        None => json!(default),
        Some(Value::Number(n)) => to_json(&Value::Number(n.clone())),
        Some(Value::String(s)) => parse_alert_duration(s).map_or(json!(default), |n| json!(n)),
        Some(_) => json!(default),
    }
}

/// The event for check `name` of an instance; None when no team is configured.
pub fn event(
    service: &Service,
    config: &InstanceConfig,
    name: &str,
    status: u8,
    output: &str,
) -> Option<Json> {
    let get = |k: &str| monitoring(service, config, k);
    let team = get("team")?.as_str()?.to_string();
    let text_or_null = |k: &str| get(k).map_or(Json::Null, to_json);
    Some(json!({
        "name": name,
        "status": status,
        "output": output,
        "handler": "default",
        "team": team,
        "runbook": get("runbook").map_or(json!("Please set a `runbook` field in monitoring.yaml"), to_json),
        "tip": get("tip").map_or(json!("Please set a `tip` field in monitoring.yaml"), to_json),
        "notification_email": text_or_null("notification_email"),
        "interval": 60,
        "page": text_or_null("page"),
        "realert_every": duration(get("realert_every"), -1),
        "dependencies": [],
        "alert_after": duration(get("alert_after"), 120),
        "ticket": get("ticket").map_or(json!(false), to_json),
        "project": text_or_null("project"),
        "priority": text_or_null("priority"),
        "source": format!("paasta-{}", config.cluster),
        "tags": get("tags").map_or(json!([]), to_json),
        "ttl": text_or_null("ttl"),
        "issuetype": text_or_null("issuetype"),
        "description": service.description().map_or(Json::Null, |d| json!(d)),
    }))
}
