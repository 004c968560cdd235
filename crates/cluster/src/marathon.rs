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
use crate::rest::{Body, Request, Rest};
use serde_json::{json, Value};
use std::time::Duration;

pub struct Marathon {
    rest: Rest,
    /// What reconcile would have sent under --dry-run (--show-definitions prints it).
    would_send: std::sync::Mutex<Vec<Request>>,
}

fn err(message: String) -> BackendError {
    BackendError {
        backend: "marathon",
        message,
    }
}

/// Where the system config names the Marathon servers: `marathon_servers`, else the older
/// `marathon_config`.
const SYSTEM_KEYS: &[&str] = &["marathon_servers", "marathon_config"];

/// The endpoints the system config names.
#[cfg(test)]
fn endpoints_of_system(system: &soa::SystemConfig) -> Result<String> {
    crate::rest::endpoints_of_system(system, "marathon", SYSTEM_KEYS)
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
    /// `marathon:URL[,URL…]`, or `marathon` alone: the system config's servers; one of them
    /// answers `/ping` within `timeout` (at least 5 s) or it fails.
    pub async fn connect(choice: &str, timeout: Duration) -> Result<Marathon> {
        let urls = crate::rest::urls_for(choice, "marathon", SYSTEM_KEYS)?;
        let m = Marathon {
            rest: Rest::new("marathon", &urls, timeout)?,
            would_send: Default::default(),
        };
        m.rest.call("GET", "/ping", None).await?;
        Ok(m)
    }

    pub fn api_calls(&self) -> usize {
        self.rest.calls()
    }

    /// The creates and updates reconcile would have sent under --dry-run, in order.
    pub fn would_send(&self) -> Vec<Request> {
        std::mem::take(&mut *self.would_send.lock().unwrap_or_else(|e| e.into_inner()))
    }
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
        let v = self
            .rest
            .call("GET", "/v2/apps?embed=apps.tasks", None)
            .await?;
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
        let request = match app {
            None => {
                // The id goes as PaaSTA's client sends it (the reference's wire body); Marathon
                // answers with it `/`-prefixed.
                let mut body = soa::marathon::wire_body(&spec.definition);
                body["id"] = json!(spec.id);
                body["instances"] = json!(count);
                Request {
                    method: "POST",
                    path: "/v2/apps".into(),
                    body,
                }
            }
            // Forced, as PaaSTA scales past a deployment in progress.
            Some(_) => Request {
                method: "PUT",
                path: format!("/v2/apps/{}?force=true", spec.id),
                body: json!({ "instances": count }),
            },
        };
        if dry_run {
            self.would_send
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(request);
            return Ok(actions);
        }
        self.rest
            .call(
                request.method,
                &request.path,
                Some((&request.body, Body::Sorted)),
            )
            .await?;
        Ok(actions)
    }

    async fn kill_task(&self, _app: &App, task: &Task) -> Result<()> {
        self.rest
            .call(
                "POST",
                "/v2/tasks/delete?scale=true&force=true",
                Some((&json!({ "ids": [task.id] }), Body::Sorted)),
            )
            .await
            .map(|_| ())
    }

    async fn delete_app(&self, app: &App) -> Result<()> {
        self.rest
            .call("DELETE", &format!("/v2/apps/{}?force=true", app.id), None)
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
    fn app_ids() {
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
