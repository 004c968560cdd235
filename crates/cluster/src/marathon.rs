//! The Marathon backend (`--backend marathon:URL[,URL…]`): long-running instances on an
//! existing Mesos cluster through Marathon's v2 REST API, sending what PaaSTA v0.86 sends, so
//! app ids and config hashes line up with what already runs and a switch-over bounces nothing.
//!
//! - `apps`: `GET /v2/apps?embed=apps.tasks`; tasks with their host, first port, start time,
//!   state (staging, running) and health (`healthCheckResults[].alive`; none: unchecked).
//! - `reconcile`: Marathon keeps an app at its `instances` itself; a missing app is created
//!   (`POST /v2/apps`, the body `soa::marathon::wire_body` makes), one with
//!   fewer instances than wanted is scaled up (`PUT /v2/apps/{id}?force=true`, as PaaSTA forces
//!   past a deployment in progress). Scaling down is the caller's drain-then-kill.
//! - `kill_task`: `POST /v2/tasks/delete?scale=true&force=true` (killed and the app shrunk).
//! - `delete_app`: `DELETE /v2/apps/{id}?force=true`.
//!
//! Where: `marathon:URL[,URL…]` with credentials as `user:password@` in a URL (basic auth), or
//! `marathon` alone, which reads the system config: `marathon_servers` (a list of `{url, user,
//! password}`, `url` a string or a list) or PaaSTA's older `marathon_config` (one such object).
//! Several URLs are tried in turn: a connection that fails, or a 503 (no leader), moves on. Scheduled jobs do not run
//! on Marathon (PaaSTA runs them on Chronos): this backend has none, and refuses to start one.

use crate::backend::{
    Action, App, AppSpec, Backend, BackendError, Health, Outcome, Result, Run, RunDetail, RunSpec,
    Task, TaskState,
};
use serde_json::{json, Value};
use std::time::Duration;

/// One Marathon endpoint: its base URL and its basic auth.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    base: String,
    auth: Option<String>,
}

pub struct Marathon {
    endpoints: Vec<Endpoint>,
    timeout: Duration,
    calls: std::sync::atomic::AtomicUsize,
}

fn err(message: String) -> BackendError {
    BackendError {
        backend: "marathon",
        message,
    }
}

/// `http[s]://[user:password@]host:port`, credentials taken out into a basic-auth header.
fn endpoint(url: &str) -> Result<Endpoint> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| *s == "http" || *s == "https")
        .ok_or_else(|| {
            err(format!(
                "--backend marathon:{url}: expected http[s]://[user:password@]host:port"
            ))
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

/// The endpoints the system config names (`marathon_servers`, else `marathon_config`).
pub fn endpoints_of_system(system: &soa::SystemConfig) -> Result<String> {
    let entries: Vec<&Value> = match (system.get("marathon_servers"), system.get("marathon_config")) {
        (Some(Value::Array(list)), _) => list.iter().collect(),
        (Some(one @ Value::Object(_)), _) | (None, Some(one @ Value::Object(_))) => vec![one],
        _ => {
            return Err(err(format!(
                "--backend marathon: the system config in {} has no marathon_servers (or marathon_config) with the servers' url, user and password; or give --backend marathon:URL",
                system.dir.display()
            )))
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
            return Err(err(format!(
                "the system config in {}: marathon_servers: an entry without url: {e}",
                system.dir.display()
            )));
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

/// (service, instance, git sha, config hash) of a PaaSTA app id.
fn parts(id: &str) -> Option<(String, String, String, String)> {
    let mut p = id.trim_start_matches('/').split('.');
    let (s, i, g, c) = (p.next()?, p.next()?, p.next()?, p.next()?);
    if p.next().is_some() || !c.starts_with("config") {
        return None;
    }
    Some((
        s.replace("--", "_"),
        i.replace("--", "_"),
        g.strip_prefix("git")?.to_string(),
        c.to_string(),
    ))
}

fn unix_time(iso: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(iso).map_or(0, |t| t.timestamp())
}

impl Marathon {
    /// The endpoints of `urls` (comma separated); answers `/ping` within `timeout` or fails.
    pub async fn connect(urls: &str, timeout: Duration) -> Result<Marathon> {
        let endpoints = urls
            .split(',')
            .filter(|u| !u.trim().is_empty())
            .map(endpoint)
            .collect::<Result<Vec<_>>>()?;
        if endpoints.is_empty() {
            return Err(err("--backend marathon: needs a URL".into()));
        }
        let m = Marathon {
            endpoints,
            timeout,
            calls: Default::default(),
        };
        m.call("GET", "/ping", None).await?;
        Ok(m)
    }

    pub fn api_calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One request, to each endpoint in turn until one answers other than 503. 2xx gives the
    /// body; any other status is an error naming it and Marathon's message.
    async fn call(&self, method: &'static str, path: &str, body: Option<Value>) -> Result<Value> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (endpoints, path, timeout) = (self.endpoints.clone(), path.to_string(), self.timeout);
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
                        .body(pyjson::dumps(b, true))
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
                    return Err(err(format!(
                        "{method} {url} answered {status}: {}",
                        message(&text)
                    )));
                }
                return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
            }
            Err(err(format!(
                "no Marathon answered {method} {path}: {}",
                tried.join("; ")
            )))
        })
        .await
        .map_err(|e| err(e.to_string()))?
    }
}

/// Marathon's message in an error body, else the text.
fn message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect())
}

fn task_of(t: &Value, checked: bool) -> Task {
    let state = match t["state"].as_str() {
        Some("TASK_RUNNING") => TaskState::Running,
        Some("TASK_STAGING" | "TASK_STARTING") => TaskState::Staged,
        _ => TaskState::Exited,
    };
    let results = t["healthCheckResults"].as_array();
    let health = match (checked, results.and_then(|r| r.first())) {
        (false, _) => Health::Unchecked,
        (true, Some(r)) if r["alive"] == true => Health::Healthy,
        (true, Some(r)) if r["consecutiveFailures"].as_u64().unwrap_or(0) > 0 => Health::Unhealthy,
        (true, _) => Health::Starting,
    };
    let id = t["id"].as_str().unwrap_or_default().to_string();
    Task {
        name: id.clone(),
        id,
        host: t["host"].as_str().unwrap_or_default().to_string(),
        port: t["ports"][0].as_u64().map(|p| p as u16),
        state,
        health,
        started_at: unix_time(
            t["startedAt"]
                .as_str()
                .or(t["stagedAt"].as_str())
                .unwrap_or_default(),
        ),
        restarts: 0,
    }
}

const NO_JOBS: &str =
    "scheduled jobs do not run on Marathon: give them --backend chronos:URL, as PaaSTA runs them on Chronos";

impl Backend for Marathon {
    fn name(&self) -> &'static str {
        "marathon"
    }

    async fn apps(&self) -> Result<Vec<App>> {
        let v = self.call("GET", "/v2/apps?embed=apps.tasks", None).await?;
        let mut out = Vec::new();
        for a in v["apps"].as_array().into_iter().flatten() {
            let id = a["id"].as_str().unwrap_or_default().trim_start_matches('/');
            // Apps that are not PaaSTA's are not ours to touch.
            let Some((service, instance, git_sha, config_hash)) = parts(id) else {
                continue;
            };
            let checked = a["healthChecks"].as_array().is_some_and(|c| !c.is_empty());
            out.push(App {
                id: id.to_string(),
                service,
                instance,
                git_sha,
                config_hash,
                tasks: a["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| task_of(t, checked))
                    .collect(),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn reconcile(
        &self,
        spec: &AppSpec,
        app: Option<&App>,
        count: usize,
        _now: f64,
        dry_run: bool,
    ) -> Result<Vec<Action>> {
        let live = app.map_or(0, |a| a.tasks.iter().filter(|t| t.is_live()).count());
        if app.is_some() && live >= count {
            return Ok(Vec::new());
        }
        let actions: Vec<Action> = (live..count)
            .map(|_| Action::Launch {
                app: spec.id.clone(),
                task: None,
            })
            .collect();
        if dry_run {
            return Ok(actions);
        }
        match app {
            None => {
                // The id goes as PaaSTA's client sends it (the reference's wire body); Marathon
                // answers with it `/`-prefixed.
                let mut body = soa::marathon::wire_body(&spec.definition);
                body["id"] = json!(spec.id);
                body["instances"] = json!(count);
                self.call("POST", "/v2/apps", Some(body)).await?;
            }
            Some(_) => {
                self.call(
                    "PUT",
                    &format!("/v2/apps/{}?force=true", spec.id),
                    Some(json!({ "instances": count })),
                )
                .await?;
            }
        }
        Ok(actions)
    }

    async fn kill_task(&self, _app: &App, task: &Task) -> Result<()> {
        self.call(
            "POST",
            "/v2/tasks/delete?scale=true&force=true",
            Some(json!({ "ids": [task.id] })),
        )
        .await
        .map(|_| ())
    }

    async fn delete_app(&self, app: &App) -> Result<()> {
        self.call("DELETE", &format!("/v2/apps/{}?force=true", app.id), None)
            .await
            .map(|_| ())
    }

    async fn runs(&self) -> Result<Vec<Run>> {
        Ok(Vec::new())
    }

    async fn launch_run(&self, _spec: &RunSpec, _record: Option<Outcome>) -> Result<Run> {
        Err(err(NO_JOBS.into()))
    }

    async fn start_run(&self, _run: &Run) -> Result<()> {
        Err(err(NO_JOBS.into()))
    }

    async fn kill_run(&self, _run: &Run) -> Result<()> {
        Err(err(NO_JOBS.into()))
    }

    async fn remove_run(&self, _run: &Run) -> Result<()> {
        Err(err(NO_JOBS.into()))
    }

    async fn wait_run(&self, _run: &Run) -> Result<i64> {
        Err(err(NO_JOBS.into()))
    }

    async fn run_detail(&self, _run: &Run, _tail: usize) -> Result<RunDetail> {
        Err(err(NO_JOBS.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_from_the_system_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("marathon.json"),
            r#"{"marathon_servers": [{"url": ["http://m1:8080", "http://m2:8080"], "user": "ops", "password": "pw"}]}"#,
        )
        .unwrap();
        let sys = soa::SystemConfig::load(dir.path()).unwrap();
        assert_eq!(
            endpoints_of_system(&sys).unwrap(),
            "http://ops:pw@m1:8080,http://ops:pw@m2:8080"
        );
        std::fs::write(
            dir.path().join("marathon.json"),
            r#"{"marathon_config": {"url": "http://m3:8080"}}"#,
        )
        .unwrap();
        let sys = soa::SystemConfig::load(dir.path()).unwrap();
        assert_eq!(endpoints_of_system(&sys).unwrap(), "http://m3:8080");
        std::fs::remove_file(dir.path().join("marathon.json")).unwrap();
        let sys = soa::SystemConfig::load(dir.path()).unwrap();
        let e = endpoints_of_system(&sys).unwrap_err().message;
        assert!(e.contains("marathon_servers"), "{e}");
    }

    #[test]
    fn endpoints_and_ids() {
        let e = endpoint("https://ops:s3cret@marathon.example:8080/").unwrap();
        assert_eq!(e.base, "https://marathon.example:8080");
        assert_eq!(e.auth.as_deref(), Some("Basic b3BzOnMzY3JldA=="));
        assert!(endpoint("marathon.example:8080").is_err());
        assert_eq!(
            parts("/order--api.canary--eu.gitcccccccc.config22ba95b5"),
            Some((
                "order_api".into(),
                "canary_eu".into(),
                "cccccccc".into(),
                "config22ba95b5".into()
            ))
        );
        assert_eq!(parts("/someone-elses-app"), None);
    }
}
