//! The JSON-over-HTTP client the Mesos frameworks' backends share (Marathon, Chronos): a list
//! of endpoints tried in turn, basic auth taken out of `user:password@` in a URL, a time limit
//! per request, and a count of the calls made.
//!
//! A request goes to each endpoint until one answers other than 503 (a framework without a
//! leader answers 503) or fails to connect; 2xx gives the body, any other status is an error
//! naming the request, the status and the framework's own message.

use crate::backend::{BackendError, Result};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One endpoint: its base URL and its basic auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base: String,
    pub auth: Option<String>,
}

/// A request as it goes on the wire (for `--show-definitions`, one JSON line each).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    /// The body, as the framework's client writes it.
    pub body: Value,
}

pub struct Rest {
    /// Names the framework in errors (`marathon`, `chronos`).
    name: &'static str,
    endpoints: Vec<Endpoint>,
    timeout: Duration,
    calls: AtomicUsize,
}

/// The body's text for a request: how each framework's Python client writes it.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// json.dumps(…, sort_keys=True) (marathon-python).
    Sorted,
    /// json.dumps(…) in the body's own key order (chronos-python).
    AsBuilt,
}

/// The least time a request to a framework is given, whatever the tool's engine timeout (a
/// framework answers slower than a local engine).
const MIN_TIMEOUT: Duration = Duration::from_secs(5);

impl Rest {
    /// The endpoints of `urls` (comma separated): `http[s]://[user:password@]host:port`; each
    /// request may take `timeout` (at least 5 s).
    pub fn new(name: &'static str, urls: &str, timeout: Duration) -> Result<Rest> {
        let endpoints = urls
            .split(',')
            .filter(|u| !u.trim().is_empty())
            .map(|u| endpoint(name, u))
            .collect::<Result<Vec<_>>>()?;
        if endpoints.is_empty() {
            return Err(error(name, format!("--backend {name}: needs a URL")));
        }
        Ok(Rest {
            name,
            endpoints,
            timeout: timeout.max(MIN_TIMEOUT),
            calls: AtomicUsize::new(0),
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// A request whose answer is JSON (Null when empty or not JSON).
    pub async fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<(&Value, Body)>,
    ) -> Result<Value> {
        let text = self.call_text(method, path, body).await?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A request; the answer's text.
    pub async fn call_text(
        &self,
        method: &'static str,
        path: &str,
        body: Option<(&Value, Body)>,
    ) -> Result<String> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let body = body.map(|(b, how)| pyjson::dumps(b, matches!(how, Body::Sorted)));
        let (endpoints, path, timeout, name) = (
            self.endpoints.clone(),
            path.to_string(),
            self.timeout,
            self.name,
        );
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(timeout))
                .build()
                .into();
            let mut tried = Vec::new();
            for e in &endpoints {
                let url = format!("{}{path}", e.base);
                let mut req = ureq::http::Request::builder()
                    .method(method)
                    .uri(&url)
                    .header("Accept", "application/json");
                if let Some(a) = &e.auth {
                    req = req.header("Authorization", a);
                }
                let sent = match &body {
                    Some(b) => req
                        .header("Content-Type", "application/json")
                        .body(b.clone())
                        .map_err(|x| x.to_string())
                        .and_then(|r| agent.run(r).map_err(|x| x.to_string())),
                    None => req
                        .body(())
                        .map_err(|x| x.to_string())
                        .and_then(|r| agent.run(r).map_err(|x| x.to_string())),
                };
                let mut answer = match sent {
                    Ok(a) => a,
                    Err(x) => {
                        tried.push(format!("{}: {x}", e.base));
                        continue;
                    }
                };
                let status = answer.status().as_u16();
                let text = answer.body_mut().read_to_string().unwrap_or_default();
                if status == 503 {
                    tried.push(format!("{}: 503 {}", e.base, message(&text)));
                    continue;
                }
                if !(200..300).contains(&status) {
                    return Err(error(
                        name,
                        format!("{method} {url} answered {status}: {}", message(&text)),
                    ));
                }
                return Ok(text);
            }
            Err(error(
                name,
                format!(
                    "no {} answered {method} {path}: {}",
                    capitalized(name),
                    tried.join("; ")
                ),
            ))
        })
        .await
        .map_err(|e| error(name, e.to_string()))?
    }
}

fn error(backend: &'static str, message: String) -> BackendError {
    BackendError { backend, message }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The framework's message in an error body (`message`, or Chronos' plain text), else the
/// text's start.
fn message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.trim().chars().take(300).collect())
}

/// `http[s]://[user:password@]host:port`, credentials taken out into a basic-auth header.
pub fn endpoint(name: &'static str, url: &str) -> Result<Endpoint> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| *s == "http" || *s == "https")
        .ok_or_else(|| {
            error(
                name,
                format!("--backend {name}:{url}: expected http[s]://[user:password@]host:port"),
            )
        })?;
    let (auth, host) = match rest.rsplit_once('@') {
        Some((cred, host)) => {
            use base64::Engine as _;
            (
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(cred)
                )),
                host,
            )
        }
        None => (None, rest),
    };
    Ok(Endpoint {
        base: format!("{scheme}://{host}"),
        auth,
    })
}

/// A path segment with what a URL cannot carry escaped (a Chronos job name has spaces).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URLs `--backend` names for framework `name`: those after `name:`, or for `name` alone
/// the system config's, under the first of `keys` it has (see [`endpoints_of_system`]).
pub fn urls_for(choice: &str, name: &'static str, keys: &[&str]) -> Result<String> {
    if let Some(urls) = choice
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(':'))
    {
        return Ok(urls.to_string());
    }
    let dir = soa::system::default_dir();
    let system = soa::SystemConfig::load(&dir).map_err(|e| error(name, e.to_string()))?;
    endpoints_of_system(&system, name, keys)
}

/// The endpoints the system config names under the first of `keys` it has: a list of `{url,
/// user, password}` objects or one (`url` a string or a list), as `http://user:password@host`
/// URLs joined with commas.
pub fn endpoints_of_system(
    system: &soa::SystemConfig,
    name: &'static str,
    keys: &[&str],
) -> Result<String> {
    let found = keys.iter().find_map(|k| system.get(k).map(|v| (*k, v)));
    let (key, entries): (&str, Vec<&Value>) = match found {
        Some((k, Value::Array(list))) => (k, list.iter().collect()),
        Some((k, one @ Value::Object(_))) => (k, vec![one]),
        _ => {
            return Err(error(
                name,
                format!(
                    "--backend {name}: the system config in {} has no {} with the servers' url, user and password; or give --backend {name}:URL",
                    system.dir.display(),
                    keys.join(" (or ")
                        + &")".repeat(keys.len().saturating_sub(1))
                ),
            ))
        }
    };
    let mut urls = Vec::new();
    for e in entries {
        let list: Vec<&str> = match &e["url"] {
            Value::String(u) => vec![u.as_str()],
            Value::Array(us) => us.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if list.is_empty() {
            return Err(error(
                name,
                format!(
                    "the system config in {}: {key}: an entry without url: {e}",
                    system.dir.display()
                ),
            ));
        }
        let cred = match (e["user"].as_str(), e["password"].as_str()) {
            (Some(u), Some(p)) => format!("{u}:{p}@"),
            _ => String::new(),
        };
        for u in list {
            let (scheme, rest) = u.split_once("://").unwrap_or(("http", u));
            urls.push(format!("{scheme}://{cred}{rest}"));
        }
    }
    Ok(urls.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_segments() {
        let e = endpoint("marathon", "https://ops:s3cret@marathon.example:8080/").unwrap();
        assert_eq!(e.base, "https://marathon.example:8080");
        assert_eq!(e.auth.as_deref(), Some("Basic b3BzOnMzY3JldA=="));
        assert!(endpoint("marathon", "marathon.example:8080").is_err());
        assert_eq!(segment("tmp-2019 svc nightly"), "tmp-2019%20svc%20nightly");
    }
}
