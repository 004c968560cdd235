//! `hacheck`: the spool server every host runs beside its tasks, speaking hacheck's API
//! (docs/paasta.md §10). The drain method writes to it; load balancers ask it before sending a
//! task traffic:
//!
//! - `GET /spool/<registration>/<port>/status`: 200 `Service <registration> in up state`, or
//!   503 `Service <registration> in down state since <t> until <t>: <reason>`.
//! - `POST /spool/<registration>/<port>/status` with `status=down&expiration=<unix>&reason=…`
//!   or `status=up`: a drain (until its expiration), or its end.
//! - `GET /http/<registration>/<port>/<path>`: 404 while the spool says down (HAProxy, with
//!   `http-check disable-on-404`, stops sending it new work at the first such answer, without
//!   waiting for `fall` failures); otherwise the task's own answer to
//!   `GET http://127.0.0.1:<port>/<path>` (any 2xx/3xx is 200), 503 when it does not answer.
//!   `GET /tcp/<registration>/<port>/`: the same with a TCP connect. This is what HAProxy checks
//!   (smartstack-sync), so a drained task and a dead one both stop getting traffic.
//! - `GET /status`: 200, the server's own health.
//!
//! Drains survive a restart: the spool is kept in `<spool dir>/spool.json`, rewritten whole
//! (temp file and rename) on each change.

use anyhow::{Context as _, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  hacheck --port 6666 --spool-dir /var/spool/hacheck
  curl -s localhost:6666/spool/shopfront.main/31000/status
  curl -s -d 'status=down&reason=maintenance&expiration=1900000000' localhost:6666/spool/shopfront.main/31000/status";

/// Serve hacheck's spool API on this host: drains recorded by the drain method, asked by load balancers.
#[derive(Debug, Parser)]
#[command(name = "hacheck", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The port to listen on (the drain method's and HAProxy's hacheck port).
    #[arg(short = 'p', long, default_value_t = 6666)]
    pub port: u16,
    /// Where the spool is kept across restarts.
    #[arg(long, default_value = "/var/spool/hacheck")]
    pub spool_dir: PathBuf,
    /// Seconds a task's own health check (/http, /tcp) may take.
    #[arg(long, default_value = "2", value_name = "SECONDS")]
    pub check_timeout: cli::Seconds,
    /// Threads answering requests.
    #[arg(long, default_value_t = 8)]
    pub threads: usize,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "EXIT STATUS",
        "2\tthe port could not be bound, or the spool directory not read (the server otherwise runs until stopped)",
    ),
    (
        "FILES",
        "<spool dir>/spool.json\tthe drains in force: registration, port, since, until, reason",
    ),
    ("EXAMPLES", EXAMPLES),
];

/// One drain in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Down {
    pub since: f64,
    pub until: f64,
    pub reason: String,
}

/// The drains by registration and port.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Spool {
    pub down: BTreeMap<String, BTreeMap<u16, Down>>,
}

impl Spool {
    /// The drain of `registration` on `port` in force at `now` (an expired one is none).
    pub fn status(&self, registration: &str, port: u16, now: f64) -> Option<&Down> {
        self.down
            .get(registration)
            .and_then(|p| p.get(&port))
            .filter(|d| d.until > now)
    }

    pub fn set_down(&mut self, registration: &str, port: u16, down: Down) {
        self.down
            .entry(registration.to_string())
            .or_default()
            .insert(port, down);
    }

    pub fn set_up(&mut self, registration: &str, port: u16) {
        if let Some(ports) = self.down.get_mut(registration) {
            ports.remove(&port);
            if ports.is_empty() {
                self.down.remove(registration);
            }
        }
    }

    /// Forgets drains that ended before `now`.
    pub fn expire(&mut self, now: f64) {
        for ports in self.down.values_mut() {
            ports.retain(|_, d| d.until > now);
        }
        self.down.retain(|_, p| !p.is_empty());
    }
}

/// hacheck's words for a spool state.
pub fn status_text(registration: &str, down: Option<&Down>) -> String {
    match down {
        None => format!("Service {registration} in up state"),
        Some(d) => format!(
            "Service {registration} in down state since {} until {}: {}",
            d.since, d.until, d.reason
        ),
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq)]
pub enum Route<'a> {
    Spool {
        registration: &'a str,
        port: u16,
    },
    Http {
        registration: &'a str,
        port: u16,
        path: &'a str,
    },
    Tcp {
        registration: &'a str,
        port: u16,
    },
    Status,
}

/// The route of a URL path (without its query); None for anything else.
pub fn route(path: &str) -> Option<Route<'_>> {
    let path = path.split('?').next().unwrap_or(path);
    if path == "/status" {
        return Some(Route::Status);
    }
    let rest = path.strip_prefix('/')?;
    let (kind, rest) = rest.split_once('/')?;
    let (registration, rest) = rest.split_once('/')?;
    let (port, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let port: u16 = port.parse().ok()?;
    if registration.is_empty() {
        return None;
    }
    match kind {
        "spool" if tail == "status" => Some(Route::Spool { registration, port }),
        "http" => Some(Route::Http {
            registration,
            port,
            path: tail,
        }),
        "tcp" => Some(Route::Tcp { registration, port }),
        _ => None,
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

struct State {
    spool: Mutex<Spool>,
    file: PathBuf,
    agent: ureq::Agent,
    check_timeout: Duration,
}

impl State {
    /// The drain of `registration` on `port` in force now.
    fn drained(&self, registration: &str, port: u16) -> Option<Down> {
        let spool = self.spool.lock().unwrap_or_else(|p| p.into_inner());
        spool.status(registration, port, now()).cloned()
    }

    fn save(&self, spool: &Spool) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(spool).map_err(std::io::Error::other)?;
        store::write_file(&self.file, &text, 0o644)
    }
}

fn load(file: &Path) -> Result<Spool> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a spool (JSON of drains)", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Spool::default()),
        Err(e) => Err(e).with_context(|| file.display().to_string()),
    }
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    std::fs::create_dir_all(&cli.spool_dir)
        .with_context(|| format!("making the spool directory {}", cli.spool_dir.display()))?;
    let file = cli.spool_dir.join("spool.json");
    let mut spool = load(&file)?;
    spool.expire(now());
    let addr = format!("{}:{}", cli.bind, cli.port);
    let server =
        tiny_http::Server::http(&addr).map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?;
    eprintln!(
        "hacheck: listening on {addr}, spool {} ({} drains in force)",
        file.display(),
        spool.down.values().map(BTreeMap::len).sum::<usize>()
    );
    let state = Arc::new(State {
        spool: Mutex::new(spool),
        file,
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(cli.check_timeout.0))
            .max_redirects(0)
            .build()
            .into(),
        check_timeout: cli.check_timeout.0,
    });
    let server = Arc::new(server);
    let workers: Vec<_> = (0..cli.threads.max(1))
        .map(|_| {
            let (server, state) = (server.clone(), state.clone());
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    answer(&state, request);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(ExitCode::SUCCESS)
}

fn respond(request: tiny_http::Request, status: u16, body: String) {
    // A client that left is no concern of the server's.
    let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status));
}

fn answer(state: &State, mut request: tiny_http::Request) {
    let url = request.url().to_string();
    let method = request.method().clone();
    let Some(r) = route(&url) else {
        return respond(request, 404, format!("no such path: {url}\n"));
    };
    match (method, r) {
        (tiny_http::Method::Get, Route::Status) => respond(request, 200, "ok\n".into()),
        (tiny_http::Method::Get, Route::Spool { registration, port }) => {
            let spool = state.spool.lock().unwrap_or_else(|p| p.into_inner());
            let down = spool.status(registration, port, now()).cloned();
            drop(spool);
            let code = if down.is_some() { 503 } else { 200 };
            respond(request, code, status_text(registration, down.as_ref()))
        }
        (tiny_http::Method::Post, Route::Spool { registration, port }) => {
            let mut body = String::new();
            if request.as_reader().read_to_string(&mut body).is_err() {
                return respond(request, 400, "the form is not UTF-8\n".into());
            }
            let form: BTreeMap<String, String> = form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            let (registration, t) = (registration.to_string(), now());
            let mut spool = state.spool.lock().unwrap_or_else(|p| p.into_inner());
            match form.get("status").map(String::as_str) {
                Some("up") => spool.set_up(&registration, port),
                Some("down") => {
                    let until = match form.get("expiration") {
                        None => f64::MAX,
                        Some(e) => match e.parse::<f64>() {
                            Ok(u) => u,
                            Err(_) => {
                                drop(spool);
                                return respond(
                                    request,
                                    400,
                                    format!("expiration {e:?} is not unix seconds\n"),
                                );
                            }
                        },
                    };
                    let reason = form.get("reason").cloned().unwrap_or_default();
                    spool.set_down(
                        &registration,
                        port,
                        Down {
                            since: t,
                            until,
                            reason,
                        },
                    );
                }
                other => {
                    drop(spool);
                    return respond(
                        request,
                        400,
                        format!("status {other:?}: expected up or down\n"),
                    );
                }
            }
            spool.expire(t);
            let saved = state.save(&spool);
            drop(spool);
            match saved {
                Ok(()) => respond(request, 200, String::new()),
                Err(e) => respond(
                    request,
                    500,
                    format!("writing the spool {}: {e}\n", state.file.display()),
                ),
            }
        }
        (
            tiny_http::Method::Get,
            Route::Http {
                registration,
                port,
                path,
            },
        ) => {
            if let Some(down) = state.drained(registration, port) {
                return respond(request, 404, status_text(registration, Some(&down)));
            }
            let target = format!("http://127.0.0.1:{port}/{path}");
            match state.agent.get(&target).call() {
                Ok(r) if r.status().as_u16() < 400 => respond(
                    request,
                    200,
                    format!("Service {registration} answered {}\n", r.status().as_u16()),
                ),
                Ok(r) => respond(
                    request,
                    503,
                    format!(
                        "Service {registration} answered {} at {target}\n",
                        r.status().as_u16()
                    ),
                ),
                Err(e) => respond(
                    request,
                    503,
                    format!("Service {registration} did not answer at {target}: {e}\n"),
                ),
            }
        }
        (tiny_http::Method::Get, Route::Tcp { registration, port }) => {
            if let Some(down) = state.drained(registration, port) {
                return respond(request, 404, status_text(registration, Some(&down)));
            }
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            match std::net::TcpStream::connect_timeout(&addr, state.check_timeout) {
                Ok(_) => respond(
                    request,
                    200,
                    format!("Service {registration} accepts connections\n"),
                ),
                Err(e) => respond(
                    request,
                    503,
                    format!("Service {registration} does not accept connections on {port}: {e}\n"),
                ),
            }
        }
        (_, _) => respond(request, 405, "method not allowed\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/spool/svc.main/31000/status"),
            Some(Route::Spool {
                registration: "svc.main",
                port: 31000
            })
        );
        assert_eq!(
            route("/http/svc.main/31000/health/check?x=1"),
            Some(Route::Http {
                registration: "svc.main",
                port: 31000,
                path: "health/check"
            })
        );
        assert_eq!(
            route("/tcp/svc.main/31000/"),
            Some(Route::Tcp {
                registration: "svc.main",
                port: 31000
            })
        );
        assert_eq!(route("/status"), Some(Route::Status));
        assert_eq!(route("/spool/svc.main/notaport/status"), None);
        assert_eq!(route("/spool/svc.main/31000/other"), None);
        assert_eq!(route("/elsewhere"), None);
    }

    #[test]
    fn drains_expire_and_end() {
        let drain = || Down {
            since: 10.0,
            until: 20.0,
            reason: "r".into(),
        };
        let mut s = Spool::default();
        s.set_down("svc.main", 1, drain());
        assert!(s.status("svc.main", 1, 15.0).is_some());
        assert!(s.status("svc.main", 1, 25.0).is_none());
        assert!(s.status("svc.main", 2, 15.0).is_none());
        assert_eq!(
            status_text("svc.main", s.status("svc.main", 1, 15.0)),
            "Service svc.main in down state since 10 until 20: r"
        );
        s.expire(25.0);
        assert!(s.down.is_empty());
        s.set_down("svc.main", 1, drain());
        s.set_up("svc.main", 1);
        assert!(s.down.is_empty());
    }
}
