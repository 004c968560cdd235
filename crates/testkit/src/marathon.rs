//! A Marathon for tests: the v2 endpoints the Marathon backend uses, as Marathon's published
//! API documents them, on a loopback port. Apps are kept as POSTed; each task goes through
//! TASK_STAGING → TASK_RUNNING (after `stage_s`) and, when the app has health checks, passes
//! them after `healthy_s` (unless its id starts with a prefix marked unhealthy). Scaling and
//! creating start a deployment, which lasts until the app's tasks are all up; while it lasts, a
//! PUT or DELETE of the app without `?force=true` is refused with 409, as Marathon locks it.
//! Every request is recorded (method, path with query, body) for tests to assert on.
//! `fail_with(503)` makes every answer a 503, as a Marathon without a leader gives;
//! `refuse_next` answers one request as given.
//!
//! Served by the test kit's httpd (HTTP/1.1, one request per connection).

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: String,
    /// When it arrived (unix seconds), to compare with other servers' clocks on this host.
    pub at: f64,
}

impl Recorded {
    /// A request arriving now.
    pub(crate) fn now(method: &str, path: &str, body: &str) -> Recorded {
        Recorded {
            method: method.into(),
            path: path.into(),
            body: body.into(),
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

#[derive(Debug, Clone)]
struct FakeTask {
    id: String,
    port: u16,
    born: f64,
}

#[derive(Debug, Clone)]
struct FakeApp {
    body: Value,
    instances: u64,
    tasks: Vec<FakeTask>,
    version: String,
}

#[derive(Default)]
struct State {
    apps: BTreeMap<String, FakeApp>,
    requests: Vec<Recorded>,
    fail: Option<u16>,
    /// The next request of this method gets this answer instead.
    refuse: Option<(String, u16, Value)>,
    unhealthy: Vec<String>,
    next_port: u16,
    next_id: u64,
    auth: Option<String>,
}

pub struct FakeMarathon {
    pub port: u16,
    state: Arc<Mutex<State>>,
    epoch: Instant,
    /// Seconds a task stays staging.
    pub stage_s: f64,
    /// Seconds after launch a checked task passes its checks.
    pub healthy_s: f64,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeMarathon {
    /// Starts it; with `auth` ("user:password") every request must carry that basic auth.
    pub fn start(auth: Option<&str>) -> Arc<FakeMarathon> {
        Self::start_on(0, auth)
    }

    /// Starts it on `port` of loopback (0: any free one).
    pub fn start_on(port: u16, auth: Option<&str>) -> Arc<FakeMarathon> {
        let listener = crate::httpd::bind(port);
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            next_port: 31000,
            auth: auth.map(|a| {
                use base64::Engine as _;
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(a)
                )
            }),
            ..State::default()
        }));
        let fake = Arc::new(FakeMarathon {
            port,
            state,
            epoch: Instant::now(),
            stage_s: 0.3,
            healthy_s: 0.8,
        });
        let f = fake.clone();
        crate::httpd::serve(listener, move |method, path, headers, body| {
            let (status, answer) = f.answer(method, path, headers, body);
            (status, "application/json", answer.to_string())
        });
        fake
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every answer becomes `status` (None: back to normal).
    pub fn fail_with(&self, status: Option<u16>) {
        lock(&self.state).fail = status;
    }

    /// The next `method` request is answered `status` with `body`, as Marathon would when
    /// another client got there first (409 on a create).
    pub fn refuse_next(&self, method: &str, status: u16, body: Value) {
        lock(&self.state).refuse = Some((method.to_string(), status, body));
    }

    /// Tasks of apps whose id starts with `prefix` fail their health checks.
    pub fn unhealthy(&self, prefix: &str) {
        lock(&self.state).unhealthy.push(prefix.to_string());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The app as it was POSTed (None: not there).
    pub fn app_body(&self, id: &str) -> Option<Value> {
        lock(&self.state)
            .apps
            .get(id.trim_start_matches('/'))
            .map(|a| a.body.clone())
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> (u16, Value) {
        let now = self.now();
        let mut s = lock(&self.state);
        s.requests.push(Recorded::now(method, path, body));
        if let Some(code) = s.fail {
            return (
                code,
                json!({"message": "Could not find leader to proxy request"}),
            );
        }
        if s.refuse.as_ref().is_some_and(|(m, _, _)| m == method) {
            let (_, status, body) = s.refuse.take().unwrap();
            return (status, body);
        }
        if let Some(want) = &s.auth {
            let given = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.as_str());
            if given != Some(want.as_str()) {
                return (401, json!({"message": "Invalid username or password."}));
            }
        }
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let force = query.split('&').any(|q| q == "force=true");
        let (stage_s, healthy_s) = (self.stage_s, self.healthy_s);
        match (method, route) {
            ("GET", "/ping") => (200, json!("pong")),
            ("GET", "/v2/apps") => {
                let unhealthy = s.unhealthy.clone();
                let apps: Vec<Value> = s
                    .apps
                    .iter()
                    .map(|(id, a)| {
                        let checked = a.body["healthChecks"].as_array().is_some_and(|c| !c.is_empty());
                        let sick = unhealthy.iter().any(|p| id.starts_with(p));
                        let tasks: Vec<Value> = a
                            .tasks
                            .iter()
                            .map(|t| {
                                let age = now - t.born;
                                let running = age >= stage_s;
                                let mut task = json!({
                                    "id": t.id,
                                    "appId": format!("/{id}"),
                                    "host": "127.0.0.1",
                                    "ports": [t.port],
                                    "stagedAt": iso(t.born),
                                    "startedAt": if running { json!(iso(t.born + stage_s)) } else { Value::Null },
                                    "state": if running { "TASK_RUNNING" } else { "TASK_STAGING" },
                                    "version": a.version,
                                });
                                if checked && running {
                                    task["healthCheckResults"] = json!([{
                                        "alive": !sick && age >= healthy_s,
                                        "consecutiveFailures": if sick { 3 } else { 0 },
                                        "taskId": t.id,
                                    }]);
                                }
                                task
                            })
                            .collect();
                        let mut app = a.body.clone();
                        app["id"] = json!(format!("/{id}"));
                        app["instances"] = json!(a.instances);
                        app["tasksRunning"] = json!(a.tasks.len());
                        app["tasks"] = json!(tasks);
                        app
                    })
                    .collect();
                (200, json!({ "apps": apps }))
            }
            ("POST", "/v2/apps") => {
                let Ok(app) = serde_json::from_str::<Value>(body) else {
                    return (400, json!({"message": "Invalid JSON"}));
                };
                let Some(id) = app["id"]
                    .as_str()
                    .map(|i| i.trim_start_matches('/').to_string())
                else {
                    return (
                        422,
                        json!({"message": "Object is not valid", "details": [{"path": "/id", "errors": ["error.required"]}]}),
                    );
                };
                if s.apps.contains_key(&id) {
                    return (
                        409,
                        json!({"message": format!("An app with id [/{id}] already exists.")}),
                    );
                }
                let instances = app["instances"].as_u64().unwrap_or(1);
                let mut fake = FakeApp {
                    body: app.clone(),
                    instances: 0,
                    tasks: Vec::new(),
                    version: iso(now),
                };
                scale(&mut s, &mut fake, instances, now);
                s.apps.insert(id.clone(), fake);
                let mut out = app;
                out["deployments"] = json!([{"id": format!("deploy-{id}")}]);
                (201, out)
            }
            ("PUT", r) if r.starts_with("/v2/apps/") => {
                let id = r.trim_start_matches("/v2/apps/").to_string();
                let Ok(change) = serde_json::from_str::<Value>(body) else {
                    return (400, json!({"message": "Invalid JSON"}));
                };
                let locked = s
                    .apps
                    .get(&id)
                    .is_some_and(|a| deploying(a, now, stage_s, healthy_s));
                if locked && !force {
                    return (
                        409,
                        json!({
                            "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                            "deployments": [{"id": format!("deploy-{id}")}],
                        }),
                    );
                }
                let Some(mut app) = s.apps.remove(&id) else {
                    return (
                        404,
                        json!({"message": format!("App '/{id}' does not exist")}),
                    );
                };
                if let Some(n) = change["instances"].as_u64() {
                    scale(&mut s, &mut app, n, now);
                }
                s.apps.insert(id.clone(), app);
                (
                    200,
                    json!({"version": iso(now), "deploymentId": format!("deploy-{id}")}),
                )
            }
            ("DELETE", r) if r.starts_with("/v2/apps/") => {
                let id = r.trim_start_matches("/v2/apps/");
                let locked = s
                    .apps
                    .get(id)
                    .is_some_and(|a| deploying(a, now, stage_s, healthy_s));
                if locked && !force {
                    return (
                        409,
                        json!({"message": "App is locked by one or more deployments. Override with the option '?force=true'."}),
                    );
                }
                match s.apps.remove(id) {
                    Some(_) => (
                        200,
                        json!({"version": iso(now), "deploymentId": format!("delete-{id}")}),
                    ),
                    None => (
                        404,
                        json!({"message": format!("App '/{id}' does not exist")}),
                    ),
                }
            }
            ("POST", "/v2/tasks/delete") => {
                let ids: Vec<String> = serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| v["ids"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect();
                let scale_down = query.split('&').any(|q| q == "scale=true");
                let mut killed = Vec::new();
                for app in s.apps.values_mut() {
                    let before = app.tasks.len();
                    app.tasks.retain(|t| !ids.contains(&t.id));
                    let gone = (before - app.tasks.len()) as u64;
                    if gone > 0 && scale_down {
                        app.instances -= gone;
                    }
                    killed.extend(std::iter::repeat_n((), gone as usize));
                }
                if !scale_down {
                    // Marathon replaces killed tasks of an app kept at its count.
                    let apps: Vec<String> = s.apps.keys().cloned().collect();
                    for id in apps {
                        let mut app = s.apps.remove(&id).unwrap();
                        let n = app.instances;
                        app.instances = app.tasks.len() as u64;
                        scale(&mut s, &mut app, n, now);
                        s.apps.insert(id, app);
                    }
                }
                (
                    200,
                    json!({"deploymentId": "kill", "version": iso(now), "killed": killed.len()}),
                )
            }
            ("GET", "/v2/deployments") => {
                let list: Vec<Value> = s
                    .apps
                    .iter()
                    .filter(|(_, a)| deploying(a, now, stage_s, healthy_s))
                    .map(|(id, _)| json!({"id": format!("deploy-{id}"), "affectedApps": [format!("/{id}")]}))
                    .collect();
                (200, json!(list))
            }
            _ => (
                404,
                json!({"message": format!("no route {method} {route}")}),
            ),
        }
    }
}

/// Whether the app's tasks are not all up yet (a deployment lasts that long).
fn deploying(a: &FakeApp, now: f64, stage_s: f64, healthy_s: f64) -> bool {
    let checked = a.body["healthChecks"]
        .as_array()
        .is_some_and(|c| !c.is_empty());
    let up = if checked { healthy_s } else { stage_s };
    a.tasks.len() as u64 != a.instances || a.tasks.iter().any(|t| now - t.born < up)
}

fn scale(s: &mut State, app: &mut FakeApp, n: u64, now: f64) {
    while (app.tasks.len() as u64) < n {
        s.next_id += 1;
        s.next_port += 1;
        let id = format!(
            "{}.{:08x}-fake-task",
            app.body["id"]
                .as_str()
                .unwrap_or("app")
                .trim_start_matches('/'),
            s.next_id
        );
        app.tasks.push(FakeTask {
            id,
            port: s.next_port,
            born: now,
        });
    }
    app.tasks.truncate(n as usize);
    app.instances = n;
}

/// Seconds since the fake's start as an ISO time (a fixed day; only order matters).
fn iso(t: f64) -> String {
    let whole = t.floor() as u64;
    let ms = ((t - t.floor()) * 1000.0) as u64;
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{ms:03}Z",
        (whole / 3600) % 24,
        (whole / 60) % 60,
        whole % 60
    )
}
