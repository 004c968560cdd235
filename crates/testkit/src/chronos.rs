//! A Chronos for tests: the endpoints the Chronos client uses, as Chronos' published API
//! documents them, on a loopback port. Jobs are kept as POSTed (`/scheduler/iso8601` needs a
//! valid ISO 8601 repeating schedule, `/scheduler/dependency` parents that exist; either
//! replaces a job of the same name); 204 answers success. Runs: a job started by
//! `PUT /scheduler/job/<name>`, or created with a schedule of one run from now (`R1//…`), runs
//! for `run_s` seconds and then succeeds, unless its command contains `exit 1` (it fails); a job
//! with parents runs once all its parents succeeded since its own last run. A disabled job is
//! not started by its schedule or its parents. Longer schedules are not run (tests do not wait
//! for them). Every request is recorded; `fail_with(503)` makes every answer that status.

use crate::marathon::Recorded;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone)]
struct FakeJob {
    body: Value,
    /// When the run in flight started.
    running: Option<f64>,
    /// Start at the next look.
    pending: bool,
    /// When it was first created: parents' runs before it do not start it.
    created: f64,
    last_status: &'static str,
    last_started: Option<f64>,
    last_finished: Option<f64>,
    success_count: u64,
    error_count: u64,
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<String, FakeJob>,
    requests: Vec<Recorded>,
    fail: Option<u16>,
}

pub struct FakeChronos {
    pub port: u16,
    state: Arc<Mutex<State>>,
    epoch: Instant,
    /// Seconds a run lasts.
    pub run_s: f64,
}

impl FakeJob {
    /// A job never run, made at `now`.
    fn new(body: Value, now: f64) -> FakeJob {
        FakeJob {
            body,
            running: None,
            pending: false,
            created: now,
            last_status: "fresh",
            last_started: None,
            last_finished: None,
            success_count: 0,
            error_count: 0,
        }
    }
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// `%XX` escapes and `+` decoded.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `R[n]/[start]/<period>` with a period Chronos understands.
fn valid_schedule(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 3
        && parts[0].starts_with('R')
        && parts[0][1..].bytes().all(|c| c.is_ascii_digit())
        && parts[2].starts_with('P')
        && parts[2].len() > 2
}

impl FakeChronos {
    pub fn start() -> Arc<FakeChronos> {
        Self::start_on(0)
    }

    /// Starts it on `port` of loopback (0: any free one).
    pub fn start_on(port: u16) -> Arc<FakeChronos> {
        let listener = crate::httpd::bind(port);
        let port = listener.local_addr().unwrap().port();
        let fake = Arc::new(FakeChronos {
            port,
            state: Arc::default(),
            epoch: Instant::now(),
            run_s: 0.3,
        });
        let f = fake.clone();
        crate::httpd::serve(listener, move |method, path, _headers, body| {
            match f.answer(method, path, body) {
                (status, Value::Null) => (status, "text/plain", String::new()),
                (status, Value::String(t)) => (status, "text/plain", t),
                (status, v) => (status, "application/json", v.to_string()),
            }
        });
        fake
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn fail_with(&self, status: Option<u16>) {
        lock(&self.state).fail = status;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The job as it was last POSTed (None: not there).
    pub fn job(&self, name: &str) -> Option<Value> {
        lock(&self.state).jobs.get(name).map(|j| j.body.clone())
    }

    /// Puts a job in as if someone else had made it (not recorded as a request).
    pub fn add_job(&self, body: Value) {
        let name = body["name"].as_str().expect("a name").to_string();
        let now = self.epoch.elapsed().as_secs_f64();
        lock(&self.state).jobs.insert(name, FakeJob::new(body, now));
    }

    pub fn job_names(&self) -> Vec<String> {
        lock(&self.state).jobs.keys().cloned().collect()
    }

    /// (last status, runs that succeeded, runs that failed, running now) of a job.
    pub fn runs_of(&self, name: &str) -> Option<(String, u64, u64, bool)> {
        let now = self.epoch.elapsed().as_secs_f64();
        let mut s = lock(&self.state);
        advance(&mut s, now, self.run_s);
        s.jobs.get(name).map(|j| {
            (
                j.last_status.to_string(),
                j.success_count,
                j.error_count,
                j.running.is_some(),
            )
        })
    }

    fn answer(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let now = self.epoch.elapsed().as_secs_f64();
        let mut s = lock(&self.state);
        s.requests.push(Recorded::now(method, path, body));
        if let Some(code) = s.fail {
            return (code, json!("Chronos is not the leader"));
        }
        advance(&mut s, now, self.run_s);
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        match (method, route) {
            ("GET", "/scheduler/jobs") => {
                (200, json!(s.jobs.values().map(listed).collect::<Vec<_>>()))
            }
            ("GET", "/scheduler/jobs/search") => {
                let want = query
                    .split('&')
                    .find_map(|q| q.strip_prefix("name="))
                    .map(decode)
                    .unwrap_or_default()
                    .to_lowercase();
                let found: Vec<Value> = s
                    .jobs
                    .iter()
                    .filter(|(n, _)| n.to_lowercase().contains(&want))
                    .map(|(_, j)| listed(j))
                    .collect();
                (200, json!(found))
            }
            ("POST" | "PUT", "/scheduler/iso8601" | "/scheduler/dependency") => {
                let Ok(job) = serde_json::from_str::<Value>(body) else {
                    return (400, json!("the body is not JSON"));
                };
                let Some(name) = job["name"].as_str().map(str::to_string) else {
                    return (400, json!("the job has no name"));
                };
                if route == "/scheduler/iso8601" {
                    match job["schedule"].as_str() {
                        Some(sch) if valid_schedule(sch) => {}
                        other => return (400, json!(format!("invalid schedule: {other:?}"))),
                    }
                } else {
                    let parents: Vec<String> = job["parents"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect();
                    if parents.is_empty() {
                        return (400, json!("a dependent job needs parents"));
                    }
                    if let Some(p) = parents.iter().find(|p| !s.jobs.contains_key(*p)) {
                        return (400, json!(format!("Parent job {p} could not be found")));
                    }
                    if parents.contains(&name) {
                        return (400, json!(format!("Job {name} cannot depend on itself")));
                    }
                }
                let once = job["schedule"]
                    .as_str()
                    .is_some_and(|sch| sch.starts_with("R1//"));
                let disabled = job["disabled"] == true;
                let old = s.jobs.remove(&name);
                let mut fake = FakeJob {
                    pending: once && !disabled,
                    ..FakeJob::new(job, now)
                };
                // A replaced job keeps its history and its run in flight.
                if let Some(o) = old {
                    fake.created = o.created;
                    fake.running = o.running;
                    fake.last_status = o.last_status;
                    fake.last_started = o.last_started;
                    fake.last_finished = o.last_finished;
                    fake.success_count = o.success_count;
                    fake.error_count = o.error_count;
                }
                s.jobs.insert(name, fake);
                advance(&mut s, now, self.run_s);
                (204, Value::Null)
            }
            ("PUT", r) if r.starts_with("/scheduler/job/") => {
                let name = decode(&r["/scheduler/job/".len()..]);
                match s.jobs.get_mut(&name) {
                    Some(j) => {
                        j.pending = true;
                        advance(&mut s, now, self.run_s);
                        (204, Value::Null)
                    }
                    None => (400, json!(format!("Job '{name}' not found"))),
                }
            }
            ("DELETE", r) if r.starts_with("/scheduler/job/") => {
                let name = decode(&r["/scheduler/job/".len()..]);
                match s.jobs.remove(&name) {
                    Some(_) => (204, Value::Null),
                    None => (400, json!(format!("Job '{name}' not found"))),
                }
            }
            ("DELETE", r) if r.starts_with("/scheduler/task/kill/") => {
                let name = decode(&r["/scheduler/task/kill/".len()..]);
                match s.jobs.get_mut(&name) {
                    Some(j) => {
                        if j.running.take().is_some() {
                            j.last_status = "failure";
                            j.error_count += 1;
                            j.last_finished = Some(now);
                        }
                        j.pending = false;
                        (204, Value::Null)
                    }
                    None => (400, json!(format!("Job '{name}' not found"))),
                }
            }
            ("GET", "/scheduler/graph/csv") => {
                let mut csv = String::new();
                for (name, j) in &s.jobs {
                    let state = if j.running.is_some() {
                        "running"
                    } else if j.pending {
                        "queued"
                    } else {
                        "idle"
                    };
                    csv.push_str(&format!("node,{name},{},{state}\n", j.last_status));
                }
                for (name, j) in &s.jobs {
                    for p in j.body["parents"].as_array().into_iter().flatten() {
                        csv.push_str(&format!("link,{},{name}\n", p.as_str().unwrap_or("")));
                    }
                }
                (200, Value::String(csv))
            }
            _ => (404, json!(format!("no route {method} {route}"))),
        }
    }
}

fn listed(j: &FakeJob) -> Value {
    let mut v = j.body.clone();
    v["successCount"] = json!(j.success_count);
    v["errorCount"] = json!(j.error_count);
    v
}

/// Brings the runs up to `now`: pending runs start, runs past `run_s` end, and children whose
/// parents all succeeded since their own last run start; repeated until nothing changes.
fn advance(s: &mut State, now: f64, run_s: f64) {
    loop {
        let mut changed = false;
        for j in s.jobs.values_mut() {
            if let Some(started) = j.running {
                if now - started >= run_s {
                    j.running = None;
                    j.last_finished = Some(started + run_s);
                    let failed = j.body["command"]
                        .as_str()
                        .is_some_and(|c| c.contains("exit 1"));
                    if failed {
                        j.last_status = "failure";
                        j.error_count += 1;
                    } else {
                        j.last_status = "success";
                        j.success_count += 1;
                    }
                    changed = true;
                }
            }
            if j.pending && j.running.is_none() {
                j.pending = false;
                j.running = Some(now);
                j.last_started = Some(now);
                changed = true;
            }
        }
        let done: BTreeMap<String, (bool, Option<f64>)> = s
            .jobs
            .iter()
            .map(|(n, j)| (n.clone(), (j.last_status == "success", j.last_finished)))
            .collect();
        for j in s.jobs.values_mut() {
            let Some(parents) = j.body["parents"].as_array() else {
                continue;
            };
            if j.running.is_some() || j.pending || j.body["disabled"] == true {
                continue;
            }
            let since = j.last_started.unwrap_or(j.created);
            let ready = parents.iter().all(|p| {
                p.as_str()
                    .and_then(|p| done.get(p))
                    .is_some_and(|(ok, at)| *ok && at.is_some_and(|t| t > since))
            });
            if ready {
                j.pending = true;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// A soa-configs tree and system config for the Chronos tests, in `dir`: service `etl` with
/// `nightly` (a daily schedule), `load` (after nightly), `report` (after load) and `broken`
/// (its command fails), all of deploy group prod; service `web` with a long-running `main`.
/// Cluster `testcluster`; `<dir>/soa` and `<dir>/etc_paasta`.
pub fn soa_tree(dir: &std::path::Path) {
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("etc_paasta/cluster.json", r#"{"cluster": "testcluster"}"#);
    write(
        "etc_paasta/docker_registry.json",
        r#"{"docker_registry": "registry.example:443"}"#,
    );
    write(
        "etc_paasta/volumes.json",
        r#"{"volumes": [{"hostPath": "/etc/ssl", "containerPath": "/etc/ssl", "mode": "RO"}]}"#,
    );
    write("soa/etl/service.yaml", "git_url: /nonexistent/etl.git\n");
    write("soa/etl/monitoring.yaml", "team: data\n");
    write(
        "soa/etl/chronos-testcluster.yaml",
        "nightly:\n  cmd: \"extract --day {shortdate-1}\"\n  schedule: R/2026-01-01T03:00:00Z/P1D\n  \
         schedule_time_zone: Europe/London\n  cpus: 0.5\n  mem: 256\n  env: {STAGE: prod}\n  \
         deploy_group: prod\n\
         load:\n  cmd: \"load --day %(shortdate-1)s\"\n  parents: [etl.nightly]\n  deploy_group: prod\n\
         report:\n  cmd: report\n  parents: [etl.load]\n  deploy_group: prod\n\
         broken:\n  cmd: \"exit 1\"\n  schedule: R/2026-01-01T04:00:00Z/PT6H\n  deploy_group: prod\n",
    );
    let sha = "abcdef0123456789abcdef0123456789abcdef01";
    write(
        "soa/etl/deployments.json",
        &format!(
            r#"{{"v1": {{}}, "v2": {{"deployments": {{"prod": {{"docker_image": "services-etl:paasta-{sha}", "git_sha": "{sha}"}}}}, "controls": {{"etl:testcluster.nightly": {{"desired_state": "start", "force_bounce": null}}}}}}}}"#
        ),
    );
    write("soa/web/service.yaml", "git_url: /nonexistent/web.git\n");
    write(
        "soa/web/marathon-testcluster.yaml",
        "main:\n  instances: 1\n  deploy_group: prod\n",
    );
}
