//! The manager daemon: the queue database, the API (HTTPS, token), the status page, the local
//! scheduler that starts runners on this host within `--max_cores`/`--max_ram`, the watch over
//! runners, and the database backup.
//!
//! Runners are processes of their own (`wr-cloud runner`), in their own process group, so a
//! manager that dies or stops leaves its jobs running: a runner that cannot report keeps trying,
//! and the next manager takes its report. A job is given up as lost when its runner's process is
//! gone without a report, or when the runner has not touched it for `--touch_ttr` seconds; a lost
//! job whose runner is gone is retried by its policy (or buried).
//!
//! At start, with no database but a backup, the queue is restored from the backup: jobs that
//! were complete stay complete, jobs that were running are marked lost and retried once their
//! runners are known to be gone. The development deployment starts afresh every time and keeps
//! no backup, as wr's does.

// Handlers answer with `Result<Response, Response>`: the error arm is the HTTP answer to send
// at once (a 400 or a 500), not an error carried anywhere, so its size does not matter.
#![allow(clippy::result_large_err)]

use crate::api::{
    Added, ApiError, BackupStatus, Changed, Done, Finished, Ping, Reserve, Selection, Touch,
    Touched,
};
use crate::tls;
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use wr::backup::{Pacer, Target};
use wr::config::{Config, Deployment};
use wr::job::{GroupKey, JobSpec, State};
use wr::queue::{Outcome, Queue, Select};
use wr::sched::{self, Req, Server};

pub mod cloud;

/// How the manager runs, beyond the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_cores: f64,
    /// MB.
    pub max_ram: u64,
    /// Seconds before the first retry (doubling each time, at most 30 min).
    pub retry_delay: f64,
    /// Seconds between backups at least.
    pub backup_interval: f64,
    /// Seconds without a runner's touch before its job is lost.
    pub touch_ttr: f64,
    /// Seconds between a runner's touches.
    pub touch_every: f64,
    /// Seconds a runner waits for its next job before it ends.
    pub reserve_timeout: f64,
    /// This program, which runners run as.
    pub exe: PathBuf,
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Kills a process group (a command and whatever it started).
pub fn kill_group(pgid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(std::process::Stdio::null())
        .status();
}

/// The mutex's value; a panic elsewhere while it was held leaves the value as it was.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn log(msg: &str) {
    eprintln!("{:.3} {msg}", now());
}

/// A runner this manager started.
struct RunnerInfo {
    req: Req,
    /// Its group's key (requirements and cloud options).
    key: String,
    /// The server it runs on (None: this host).
    node: Option<String>,
}

struct Shared {
    queue: Mutex<Queue>,
    db: PathBuf,
    token: String,
    settings: Settings,
    config: Config,
    /// Something may now be startable: a pass should run.
    wake: Notify,
    /// Jobs became ready: waiting reserves should look again.
    work: Notify,
    runners: Mutex<HashMap<String, RunnerInfo>>,
    pacer: Mutex<Pacer>,
    backup: Mutex<BackupStatus>,
    target: Option<Target>,
    stop: watch::Sender<bool>,
    ping: Ping,
    /// The cloud mode's state (None: jobs run on this host only).
    cloud: Option<Arc<cloud::Cloud>>,
}

type Body = BoxBody<Bytes, Infallible>;

fn json_response<T: serde::Serialize>(status: StatusCode, v: &T) -> Response<Body> {
    let body = serde_json::to_vec(v).expect("answers serialize");
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("a response builds")
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    json_response(status, &ApiError { error: msg.into() })
}

fn empty(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()).boxed())
        .expect("a response builds")
}

impl Shared {
    /// Runs `f` on the queue off the async threads.
    async fn with_queue<T: Send + 'static, E: Into<anyhow::Error> + Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Queue) -> Result<T, E> + Send + 'static,
    ) -> Result<T> {
        self.off_thread(f).await
    }

    /// A short step on the queue (one job's reserve, touch or report): here, when the queue is
    /// free, sparing the hand-off to a blocking thread that a runner's every request would
    /// otherwise pay; off the async threads when something long holds it.
    async fn quick<T: Send + 'static, E: Into<anyhow::Error> + Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Queue) -> Result<T, E> + Send + 'static,
    ) -> Result<T> {
        if let Ok(mut q) = self.queue.try_lock() {
            return f(&mut q).map_err(Into::into);
        }
        self.off_thread(f).await
    }

    async fn off_thread<T: Send + 'static, E: Into<anyhow::Error> + Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Queue) -> Result<T, E> + Send + 'static,
    ) -> Result<T> {
        let sh = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut q = lock(&sh.queue);
            f(&mut q)
        })
        .await
        .context("the queue's worker ended")?
        .map_err(Into::into)
    }

    fn changed(&self) {
        lock(&self.pacer).changed();
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        let bearer = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let query = query_param(req, "token");
        bearer.or(query.as_deref()) == Some(self.token.as_str())
    }
}

fn query_param(req: &Request<Incoming>, key: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn select_of(s: &Selection) -> Result<Select, String> {
    if s.rep_grp.is_none() && s.ids.is_empty() && !s.all {
        return Err("choose jobs: a rep_grp (-i), ids (--id), or all of them (-a)".into());
    }
    Ok(Select {
        rep_grp: s.rep_grp.clone(),
        state: None,
        ids: s.ids.clone(),
    })
}

async fn body_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, Response<Body>> {
    let bytes = req
        .into_body()
        .collect()
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("reading the request: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("the request's JSON: {e}")))
}

async fn api(sh: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if !sh.authorized(&req) {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "a valid token is required (Authorization: Bearer <the contents of managertokenfile>)",
        ));
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let r = match (method.as_str(), path.as_str()) {
        ("GET", "/ping") => {
            let mut p = sh.ping.clone();
            p.backup = lock(&sh.backup).clone();
            p.backup.pending = lock(&sh.pacer).pending;
            Ok(json_response(StatusCode::OK, &p))
        }
        ("POST", "/add") => add(&sh, req).await,
        ("GET", "/counts") => {
            let g = query_param(&req, "rep_grp");
            sh.with_queue(move |q| q.counts(g.as_deref()))
                .await
                .map(|c| {
                    let m: serde_json::Map<String, serde_json::Value> = c
                        .into_iter()
                        .map(|(s, n)| (s.name().to_string(), n.into()))
                        .collect();
                    json_response(StatusCode::OK, &m)
                })
                .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))
        }
        ("GET", "/jobs") => jobs(&sh, &req),
        ("POST", "/kill") | ("POST", "/remove") | ("POST", "/retry") => {
            change(&sh, req, path.trim_start_matches('/').to_string()).await
        }
        ("POST", "/reserve") => reserve(&sh, req).await,
        ("POST", "/touch") => match body_json::<Touch>(req).await {
            Err(r) => Ok(r),
            Ok(t) => {
                let now = now();
                match sh
                    .quick(move |q| q.touch(t.id, &t.runner, t.cmd_pid.map(i64::from), now))
                    .await
                {
                    Ok(Some(kill)) => Ok(json_response(StatusCode::OK, &Touched { kill })),
                    Ok(None) => Ok(empty(StatusCode::GONE)),
                    Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
                }
            }
        },
        ("POST", "/done") => match body_json::<Finished>(req).await {
            Err(r) => Ok(r),
            Ok(f) => finished(&sh, f).await,
        },
        ("GET", "/servers") => match &sh.cloud {
            None => Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({"servers": [], "spawning": 0}),
            )),
            Some(c) => Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({"servers": c.views(&sh), "spawning": c.spawning()}),
            )),
        },
        ("POST", "/servers/confirmdead") | ("POST", "/servers/destroy") => {
            match (&sh.cloud, body_json::<crate::api::ServerChoice>(req).await) {
                (_, Err(r)) => Ok(r),
                (None, Ok(_)) => Err(error(
                    StatusCode::BAD_REQUEST,
                    "this manager runs no cloud servers",
                )),
                (Some(c), Ok(choice)) => {
                    let destroyed = if path == "/servers/destroy" {
                        cloud::destroy_named(&sh, c, &choice.server.unwrap_or_default()).await
                    } else {
                        cloud::confirm_dead(&sh, c, choice.server).await
                    };
                    Ok(json_response(
                        StatusCode::OK,
                        &serde_json::json!({"destroyed": destroyed}),
                    ))
                }
            }
        }
        ("POST", "/shutdown") => {
            let _ = sh.stop.send(true);
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({"stopping": true}),
            ))
        }
        _ => Ok(error(
            StatusCode::NOT_FOUND,
            format!("no such request: {method} {path}"),
        )),
    };
    Ok(r.unwrap_or_else(|e| e))
}

/// A runner between commands: its last result, the reserved job it began, the next job.
async fn finished(sh: &Arc<Shared>, f: Finished) -> Result<Response<Body>, Response<Body>> {
    let Finished {
        report,
        began,
        next,
    } = f;
    let runner = report
        .as_ref()
        .map(|r| r.runner.clone())
        .or_else(|| next.as_ref().map(|n| n.runner.clone()));
    // A runner this manager did not start (one of a previous manager's) finishes what it holds
    // and gets no more work.
    let known = runner.is_some_and(|r| lock(&sh.runners).contains_key(&r));
    let next = next
        .filter(|_| known)
        .and_then(|n| Some((GroupKey::parse(&n.group)?.key(), n)));
    // A job reserved ahead waits for its runner's current one: granted only while the group
    // has more ready jobs than runners, so no runner that could start it now goes without.
    let runners_in_group = next.as_ref().map_or(0, |(key, _)| {
        lock(&sh.runners).values().filter(|r| r.key == *key).count() as u64
    });
    let began = began.zip(
        report
            .as_ref()
            .map(|r| r.runner.clone())
            .or_else(|| next.as_ref().map(|n| n.1.runner.clone())),
    );
    let (base, t) = (sh.settings.retry_delay, now());
    let done = sh
        .quick(move |q| -> Result<_, wr::queue::QueueError> {
            let (outcome, released) = match &report {
                Some(r) => {
                    let (o, n) = q.report(r, base)?;
                    (Some(o), n)
                }
                None => (None, 0),
            };
            if let Some((id, runner)) = &began {
                q.begin(*id, runner, t)?;
            }
            let job = match next {
                Some((key, n)) if n.prefetch => {
                    if q.ready_in(&key)? > runners_in_group {
                        q.prefetch(&key, &n.runner, Some(n.pid as i64), t)?
                    } else {
                        None
                    }
                }
                Some((key, n)) => q.reserve(&key, &n.runner, Some(n.pid as i64), t)?,
                None => None,
            };
            Ok((outcome, released, job))
        })
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    let (outcome, released, next) = done;
    sh.changed();
    if released > 0 {
        sh.work.notify_waiters();
    }
    // A pass is due when work became ready or room may free: a runner that goes on to a job
    // it holds frees none.
    if released > 0 || (outcome.is_some() && next.is_none()) {
        sh.wake.notify_one();
    }
    Ok(json_response(StatusCode::OK, &Done { outcome, next }))
}

async fn add(sh: &Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Response<Body>> {
    let specs: Vec<JobSpec> = body_json(req).await?;
    let (added, dups) = sh
        .with_queue(move |q| q.add(&specs))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    if added > 0 {
        sh.changed();
        sh.work.notify_waiters();
        sh.wake.notify_one();
    }
    Ok(json_response(StatusCode::OK, &Added { added, dups }))
}

async fn change(
    sh: &Arc<Shared>,
    req: Request<Incoming>,
    action: String,
) -> Result<Response<Body>, Response<Body>> {
    let s: Selection = body_json(req).await?;
    let sel = select_of(&s).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let a = action.clone();
    let n = sh
        .with_queue(move |q| match a.as_str() {
            "kill" => q.kill(&sel),
            "remove" => q.remove(&sel),
            _ => q.retry(&sel),
        })
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    if n > 0 {
        sh.changed();
        if action == "retry" {
            sh.work.notify_waiters();
            sh.wake.notify_one();
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &Changed {
            action,
            jobs: n as u64,
        },
    ))
}

/// Streams the chosen jobs as JSON lines, read through a connection of their own so a long
/// listing holds up nothing else.
fn jobs(sh: &Arc<Shared>, req: &Request<Incoming>) -> Result<Response<Body>, Response<Body>> {
    let state = match query_param(req, "state") {
        None => None,
        Some(s) => Some(State::parse(&s).ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                format!("state: no such state {s:?}"),
            )
        })?),
    };
    let limit: Option<usize> = query_param(req, "limit").and_then(|l| l.parse().ok());
    let sel = Select {
        rep_grp: query_param(req, "rep_grp"),
        state,
        ids: Vec::new(),
    };
    let db = sh.db.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    tokio::task::spawn_blocking(move || {
        let q = match Queue::open_read(&db) {
            Ok(q) => q,
            Err(e) => {
                log(&format!("listing jobs: {e}"));
                return;
            }
        };
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut n = 0usize;
        let r = q.each(&sel, |job| {
            if limit.is_some_and(|l| n >= l) {
                return false;
            }
            n += 1;
            let _ = serde_json::to_writer(&mut buf, &job);
            buf.push(b'\n');
            if buf.len() >= 60 * 1024 {
                let chunk = Bytes::from(std::mem::take(&mut buf));
                if tx.blocking_send(chunk).is_err() {
                    return false;
                }
            }
            true
        });
        if let Err(e) = r {
            log(&format!("listing jobs: {e}"));
        }
        if !buf.is_empty() {
            let _ = tx.blocking_send(Bytes::from(buf));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/x-ndjson")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .expect("a response builds"))
}

async fn reserve(
    sh: &Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    let r: Reserve = body_json(req).await?;
    let Some(group) = GroupKey::parse(&r.group).map(|g| g.key()) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("group: not a group key: {:?}", r.group),
        ));
    };
    // A runner this manager did not start (one of a previous manager's) gets no more work.
    if !lock(&sh.runners).contains_key(&r.runner) {
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(r.wait.clamp(0.0, 60.0));
    loop {
        let notified = sh.work.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (runner, pid, t, group) = (r.runner.clone(), r.pid, now(), group.clone());
        let job = sh
            .quick(move |q| q.reserve(&group, &runner, Some(pid as i64), t))
            .await
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
        if let Some(job) = job {
            sh.changed();
            return Ok(json_response(StatusCode::OK, &job));
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(empty(StatusCode::NO_CONTENT)),
        }
    }
}

/// The status page on `managerweb`: counts per state and the backup's health.
async fn web(sh: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if !sh.authorized(&req) {
        return Ok(Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("Content-Type", "text/plain")
            .body(
                Full::new(Bytes::from_static(
                    b"open this page with ?token=<the contents of managertokenfile>\n",
                ))
                .boxed(),
            )
            .expect("a response builds"));
    }
    let counts = match sh.with_queue(|q| q.counts(None)).await {
        Ok(c) => c,
        Err(e) => return Ok(error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
    };
    let b = lock(&sh.backup).clone();
    let mut rows = String::new();
    for (s, n) in counts {
        rows.push_str(&format!("<tr><td>{}</td><td>{n}</td></tr>", s.name()));
    }
    let backup = match (&b.target, &b.error) {
        (None, _) => "none (development)".to_string(),
        (Some(t), Some(e)) => format!("{} — FAILING: {}", html(t), html(e)),
        (Some(t), None) => format!(
            "{} — last at {}",
            html(t),
            b.last_ok
                .map(|t| format!("{t:.0}"))
                .unwrap_or_else(|| "never yet".into())
        ),
    };
    let page = format!(
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=5><title>wr-cloud {dep}</title></head><body><h1>wr-cloud manager ({dep})</h1><table border=1><tr><th>state</th><th>jobs</th></tr>{rows}</table><p>database backup: {backup}</p></body></html>\n",
        dep = sh.config.deployment.name()
    );
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(page)).boxed())
        .expect("a response builds"))
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Serves `handler` over TLS on `listener` until stopped.
async fn serve<F, Fut>(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    sh: Arc<Shared>,
    handler: F,
) where
    F: Fn(Arc<Shared>, Request<Incoming>) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut stop = sh.stop.subscribe();
    loop {
        let (tcp, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    log(&format!("accepting a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let sh = sh.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| handler(sh.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, svc)
                .await;
        });
    }
}

/// Whether `pid` is the runner `runner` (its command line names it), so a reused pid is not
/// taken for a live runner.
fn runner_alive(pid: Option<i64>, runner: &str) -> bool {
    let Some(pid) = pid else { return false };
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).any(|arg| arg == runner.as_bytes()))
        .unwrap_or(false)
}

/// Whether `pid` is alive and leads its own process group (as a runner's command does).
fn group_leader_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // pid (comm) state ppid pgrp …; comm may hold spaces, so read after its ')'.
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_whitespace().nth(2)?.parse::<i64>().ok()
        })
        == Some(pid)
}

/// One queue pass: release delayed jobs, give up jobs whose runners are gone, then start
/// runners for what fits on this host.
async fn pass(sh: &Arc<Shared>) -> Result<()> {
    let t = now();
    let (released, held, ready) = sh
        .with_queue(move |q| -> Result<_, wr::queue::QueueError> {
            Ok((q.release_due(t)?, q.held()?, q.ready_groups()?))
        })
        .await?;
    if released > 0 {
        sh.work.notify_waiters();
        sh.changed();
    }
    let mut localhost = Server::new(
        "localhost",
        sh.settings.max_cores,
        sh.settings.max_ram,
        u64::MAX / 4,
    );
    let mut per_group: HashMap<String, u64> = HashMap::new();
    {
        let runners = lock(&sh.runners);
        for r in runners.values() {
            if r.node.is_none() {
                localhost.allocate(&r.req, 1);
            }
            *per_group.entry(r.key.clone()).or_default() += 1;
        }
    }
    // An earlier manager's runners on servers this one adopted: alive while their server is.
    let earlier = sh
        .cloud
        .as_ref()
        .map(|c| c.earlier_at_work(&held))
        .unwrap_or_default();
    for h in held {
        let ours = lock(&sh.runners).contains_key(&h.runner);
        // A runner on a cloud server: its pids are that server's, not this host's.
        let remote = cloud::is_remote_runner(&h.runner);
        let alive = ours
            || if remote {
                sh.cloud.as_ref().is_some_and(|c| c.is_earlier(&h.runner))
            } else {
                runner_alive(h.pid, &h.runner)
            };
        if !alive {
            if let Some(pgid) = h.cmd_pid.filter(|p| !remote && group_leader_alive(*p)) {
                // The runner is gone but its command is not: end it, so a retry never runs
                // beside it.
                log(&format!(
                    "job {}: ending the command its gone runner left (process group {pgid})",
                    h.id
                ));
                kill_group(pgid as u32);
            }
            let (id, runner, base) = (h.id, h.runner.clone(), sh.settings.retry_delay);
            let outcome = sh
                .with_queue(move |q| q.runner_gone(id, &runner, t, base))
                .await?;
            if outcome != Outcome::Stale {
                log(&format!(
                    "job {} lost: its runner {} ended without reporting; {}",
                    h.id,
                    h.runner,
                    match outcome {
                        Outcome::Delayed => "it will be retried",
                        _ => "it is buried (no retries left)",
                    }
                ));
                sh.changed();
            }
            continue;
        }
        if !ours && !remote && h.state != State::Reserved {
            // A previous manager's runner, still at work: its job holds its room.
            if let Some(req) = h.req {
                localhost.allocate(&req, 1);
            }
        }
        if h.state == State::Running && t - h.touched > sh.settings.touch_ttr {
            log(&format!(
                "job {} lost: its runner {} has not touched it for {:.0} s",
                h.id,
                h.runner,
                t - h.touched
            ));
            let id = h.id;
            sh.with_queue(move |q| q.mark_lost(&[id])).await?;
            sh.changed();
        }
    }
    if let Some(c) = &sh.cloud {
        return cloud::pass(sh, c, &ready, &per_group, localhost, &earlier).await;
    }
    let groups: Vec<sched::Group> = ready
        .iter()
        .map(|g| {
            let running = per_group.get(&g.key).copied().unwrap_or(0);
            sched::Group {
                req: g.req,
                priority: g.priority,
                count: g.ready + running,
                running,
            }
        })
        .collect();
    let mut servers = vec![localhost];
    let decided = sched::pass(&groups, &mut servers);
    for start in decided.starts {
        for _ in 0..start.runners {
            spawn_runner(sh, &ready[start.group].key, groups[start.group].req)?;
        }
    }
    Ok(())
}

fn spawn_runner(sh: &Arc<Shared>, key: &str, req: Req) -> Result<()> {
    let id = format!("runner-{}", uuid::Uuid::new_v4().simple());
    let v = &sh.config.values;
    let mut cmd = tokio::process::Command::new(&sh.settings.exe);
    cmd.arg("runner")
        .args([
            "--server",
            &format!(
                "{}:{}",
                connect_host(&v.managerhost),
                sh.config.manager_port()
            ),
        ])
        .args(["--ca", &v.managercafile])
        .args(["--token-file", &v.managertokenfile])
        .args(["--runner-id", &id])
        .args(["--group", key])
        .args([
            "--reserve-timeout",
            &sh.settings.reserve_timeout.to_string(),
        ])
        .args(["--touch-every", &sh.settings.touch_every.to_string()])
        .args(["--shell", &v.runnerexecshell])
        .args(["--umask", &format!("{:o}", sh.config.umask())])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting a runner ({})", sh.settings.exe.display()))?;
    lock(&sh.runners).insert(
        id.clone(),
        RunnerInfo {
            req,
            key: key.to_string(),
            node: None,
        },
    );
    let sh = sh.clone();
    tokio::spawn(async move {
        let status = child.wait().await;
        lock(&sh.runners).remove(&id);
        if let Ok(s) = status {
            if !s.success() {
                log(&format!("runner {id} ended: {s}"));
            }
        }
        sh.wake.notify_one();
    });
    Ok(())
}

/// The address runners and clients connect to for `managerhost`.
pub fn connect_host(host: &str) -> &str {
    if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    }
}

async fn scheduler(sh: Arc<Shared>) {
    let mut stop = sh.stop.subscribe();
    if let Some(c) = &sh.cloud {
        // Before the first pass, which would give up the jobs of their runners.
        cloud::adopt(&sh, c).await;
    }
    loop {
        let last = tokio::time::Instant::now();
        if let Err(e) = pass(&sh).await {
            log(&format!("queue pass: {e:#}"));
        }
        tokio::select! {
            _ = sh.wake.notified() => {
                // Wakes that come in a burst (runners finishing together) make one pass: at
                // most one every 20 ms.
                tokio::time::sleep_until(last + Duration::from_millis(20)).await;
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Takes and sends one backup; records how it went.
async fn backup_once(sh: &Arc<Shared>, target: &Target) -> bool {
    let (t, db) = (target.clone(), sh.db.clone());
    let snap = tokio::task::spawn_blocking(move || wr::backup::snapshot(&t, &db)).await;
    let r = match snap {
        Ok(Ok(p)) => wr::backup::send(&p, target)
            .await
            .map_err(anyhow::Error::from),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    let mut st = lock(&sh.backup);
    match r {
        Ok(()) => {
            st.last_ok = Some(now());
            st.error = None;
            true
        }
        Err(e) => {
            let msg = format!("{e:#}");
            log(&format!(
                "database backup to {} FAILED: {msg}",
                target.describe()
            ));
            st.error = Some(msg);
            false
        }
    }
}

async fn backups(sh: Arc<Shared>, target: Target) {
    let mut stop = sh.stop.subscribe();
    loop {
        let start = lock(&sh.pacer).start(now());
        if start {
            let ok = backup_once(&sh, &target).await;
            lock(&sh.pacer).finished(now(), ok);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn remove_if_there(p: &Path) -> Result<()> {
    store::remove_file(p).with_context(|| format!("removing {}", p.display()))
}

/// Runs the manager in this process until it is stopped (SIGTERM, SIGINT or `manager stop`).
pub fn run(config: Config, settings: Settings, cloud: Option<cloud::CloudSettings>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the manager's runtime")?;
    rt.block_on(main(config, settings, cloud))
}

async fn main(
    config: Config,
    settings: Settings,
    cloud_settings: Option<cloud::CloudSettings>,
) -> Result<()> {
    let v = config.values.clone();
    let dir = config.managerdir();
    make_managerdir(&dir)?;
    let db = PathBuf::from(&v.managerdbfile);
    let target = match config.deployment {
        Deployment::Production => Some(Target::parse(&v.managerdbbkfile)?),
        Deployment::Development => None,
    };
    if config.deployment == Deployment::Development {
        // Development starts afresh, as wr's does.
        for p in [
            &db,
            &PathBuf::from(format!("{}-wal", db.display())),
            &PathBuf::from(format!("{}-shm", db.display())),
        ] {
            remove_if_there(p)?;
        }
        if !v.managerdbbkfile.starts_with("s3://") {
            remove_if_there(Path::new(&v.managerdbbkfile))?;
        }
    }
    let mut restored = false;
    if let Some(t) = &target {
        if !db.exists() {
            restored = wr::backup::restore(t, &db).await.with_context(|| {
                format!("restoring the database from its backup {}", t.describe())
            })?;
            if restored {
                log(&format!(
                    "restored the queue from the backup {}",
                    t.describe()
                ));
            }
        }
    }
    let mut queue = Queue::open(&db)?;
    if restored {
        let held: Vec<i64> = queue.held()?.into_iter().map(|h| h.id).collect();
        queue.mark_lost(&held)?;
    }
    let ca = PathBuf::from(&v.managercafile);
    let cert = PathBuf::from(&v.managercertfile);
    let key = PathBuf::from(&v.managerkeyfile);
    // Runners on cloud servers reach the manager at the head node's addresses.
    let mut names = Vec::new();
    if let Some(head) = cloud_settings.as_ref().and_then(|c| c.res.head.as_ref()) {
        names.extend(head.ip.iter().chain(&head.public_ip).cloned());
    }
    if tls::ensure_certs(&ca, &cert, &key, &v.managercertdomain, &names)? {
        log(&format!(
            "made the manager's CA and certificate for {} in {}",
            v.managercertdomain,
            dir.display()
        ));
    }
    let token = tls::ensure_token(Path::new(&v.managertokenfile))?;
    let tls_config = tls::server_config(&cert, &key)?;
    let local_only = v.managerhost == "localhost" || v.managerhost == "127.0.0.1";
    let bind_host = if local_only && cloud_settings.is_none() {
        "127.0.0.1"
    } else {
        "0.0.0.0"
    };
    let port = config.manager_port();
    let web_port = config.manager_web();
    let api_listener = tokio::net::TcpListener::bind((bind_host, port))
        .await
        .with_context(|| {
            format!(
                "listening on managerport {port} (another manager, or another program, holds it?)"
            )
        })?;
    let web_listener = tokio::net::TcpListener::bind((bind_host, web_port))
        .await
        .with_context(|| format!("listening on managerweb {web_port}"))?;
    let pidfile = PathBuf::from(&v.managerpidfile);
    tls::write_private(
        &pidfile,
        format!("{}\n", std::process::id()).as_bytes(),
        0o644,
    )?;
    let (stop, _) = watch::channel(false);
    let sh = Arc::new(Shared {
        queue: Mutex::new(queue),
        db: db.clone(),
        token,
        ping: Ping {
            deployment: config.deployment.name().to_string(),
            pid: std::process::id(),
            port,
            web: web_port,
            managerdir: dir.display().to_string(),
            backup: BackupStatus::default(),
        },
        settings,
        wake: Notify::new(),
        work: Notify::new(),
        runners: Mutex::new(HashMap::new()),
        pacer: Mutex::new(Pacer::new(0.0)),
        backup: Mutex::new(BackupStatus {
            target: target.as_ref().map(Target::describe),
            ..Default::default()
        }),
        target: target.clone(),
        stop,
        config,
        cloud: cloud_settings.map(|c| Arc::new(cloud::Cloud::new(c))),
    });
    lock(&sh.pacer).interval = sh.settings.backup_interval;
    if restored {
        sh.changed();
    }
    log(&format!(
        "manager started: deployment {}, pid {}, API https://{}:{port}, web https://{}:{web_port}, max {} cores / {} MB",
        sh.ping.deployment,
        std::process::id(),
        v.managerhost,
        v.managerhost,
        sh.settings.max_cores,
        sh.settings.max_ram
    ));
    let mut tasks = vec![
        tokio::spawn(serve(api_listener, tls_config.clone(), sh.clone(), api)),
        tokio::spawn(serve(web_listener, tls_config, sh.clone(), web)),
        tokio::spawn(scheduler(sh.clone())),
    ];
    if let Some(t) = target.clone() {
        tasks.push(tokio::spawn(backups(sh.clone(), t)));
    }
    if let Some(c) = &sh.cloud {
        log(&format!(
            "cloud mode: provider {}, deployment {}, image {}, {} flavors; runners reach this manager at {}",
            c.s.provider.name(),
            c.s.res.prefix,
            c.s.image.name,
            c.s.flavors.len(),
            c.s.manager_addr
        ));
        tasks.push(tokio::spawn(cloud::upkeep(sh.clone(), c.clone())));
    }
    let mut stop_rx = sh.stop.subscribe();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = stop_rx.changed() => log("stopping: asked to"),
        _ = term.recv() => log("stopping: SIGTERM"),
        _ = tokio::signal::ctrl_c() => log("stopping: SIGINT"),
    }
    let _ = sh.stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    if let Some(c) = &sh.cloud {
        // wr's clean stop: the servers it spawned go with it.
        cloud::destroy_all(&sh, c).await;
    }
    if let Some(t) = &sh.target {
        let pending = lock(&sh.pacer).pending;
        if pending && !backup_once(&sh, t).await {
            log("the last backup failed; the database in managerdir is whole");
        }
    }
    remove_if_there(&pidfile)?;
    log("manager stopped");
    Ok(())
}

/// Makes managerdir, the owner's alone: it holds the queue (commands and their environments),
/// the token and the key.
pub fn make_managerdir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating managerdir {}", dir.display()))
}

/// The pid in the pid file, when that process is alive.
pub fn running_pid(config: &Config) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(&config.values.managerpidfile)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// Refuses a second manager of the same deployment.
pub fn check_not_running(config: &Config) -> Result<()> {
    if let Some(pid) = running_pid(config) {
        bail!(
            "a manager of deployment {} already runs (pid {pid}, {})",
            config.deployment.name(),
            config.values.managerpidfile
        );
    }
    Ok(())
}
