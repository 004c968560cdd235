//! Drain methods (docs/paasta.md §5): take a task out of its load balancer before it is killed,
//! and say when killing it is safe.
//!
//! - `noop`: never draining, always safe to kill.
//! - `test`: for tests; draining and safe to kill `delay` seconds after a drain (default 0),
//!   kept in memory, or in the JSON file `state` so that separate runs share it.
//! - `hacheck`: the hacheck spool API on each registration (default `<service>.<instance>`),
//!   `http://<host>:<port 6666>/spool/<registration>/<task port>/status`; safe to kill when every
//!   registration has been down for more than `delay` (240 s).
//! - `http`: one URL per action (drain, stop_draining, is_draining, is_safe_to_kill), with
//!   {host} {port} {service} {instance} {nerve_ns} placeholders, a method and success codes.
//!
//! A drain endpoint that cannot be reached is an error, never a yes: setup-service only kills a
//! task that a drain method positively called safe.

use container::http::{form_encode, HttpError, Request, Timeouts};
pub use soa::instance::{parse_codes, DrainConfig, HttpAction, HttpDrain};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a drain method needs to know of a task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DrainTask {
    pub service: String,
    pub instance: String,
    pub host: String,
    pub port: u16,
    /// `<service>.<namespace>` names the task is registered under.
    pub registrations: Vec<String>,
}

impl DrainTask {
    pub fn new(
        service: &str,
        instance: &str,
        host: &str,
        port: u16,
        registrations: Vec<String>,
    ) -> DrainTask {
        let registrations = if registrations.is_empty() {
            vec![format!("{service}.{instance}")]
        } else {
            registrations
        };
        DrainTask {
            service: service.into(),
            instance: instance.into(),
            host: host.into(),
            port,
            registrations,
        }
    }

    fn key(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn nerve_ns(&self) -> &str {
        self.registrations
            .first()
            .and_then(|r| r.rsplit_once('.'))
            .map_or(self.instance.as_str(), |(_, ns)| ns)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DrainError {
    /// The endpoint gave no answer.
    #[error("drain method {method}: {source}")]
    Unreachable {
        method: &'static str,
        source: HttpError,
    },
    /// It answered, but not as the method expects; or the method's own state failed.
    #[error("drain method {method}: {message}")]
    Failed {
        method: &'static str,
        message: String,
    },
}

#[derive(Debug)]
pub enum DrainMethod {
    Noop,
    Test {
        delay: f64,
        state: Option<PathBuf>,
        memory: Mutex<HashMap<String, f64>>,
    },
    Hacheck {
        port: u16,
        delay: f64,
        expiration: f64,
        timeouts: Timeouts,
    },
    Http {
        actions: Box<HttpDrain>,
        timeouts: Timeouts,
    },
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl DrainMethod {
    /// The method an instance's (typed) `drain_method` and `drain_method_params` name.
    pub fn new(config: &DrainConfig, timeouts: Timeouts) -> DrainMethod {
        match config {
            DrainConfig::Noop => DrainMethod::Noop,
            DrainConfig::Test { delay, state } => DrainMethod::Test {
                delay: *delay,
                state: state.clone(),
                memory: Mutex::new(HashMap::new()),
            },
            DrainConfig::Hacheck {
                port,
                delay,
                expiration,
            } => DrainMethod::Hacheck {
                port: *port,
                delay: *delay,
                expiration: *expiration,
                timeouts,
            },
            DrainConfig::Http(actions) => DrainMethod::Http {
                actions: actions.clone(),
                timeouts,
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            DrainMethod::Noop => "noop",
            DrainMethod::Test { .. } => "test",
            DrainMethod::Hacheck { .. } => "hacheck",
            DrainMethod::Http { .. } => "http",
        }
    }

    fn err(&self, message: String) -> DrainError {
        DrainError::Failed {
            method: self.name(),
            message,
        }
    }

    async fn send(
        &self,
        method: &str,
        url: &str,
        form: Option<&str>,
        timeouts: Timeouts,
    ) -> Result<container::http::Response, DrainError> {
        Request {
            method,
            url,
            form,
            timeouts,
            insecure_tls: false,
        }
        .send()
        .await
        .map_err(|source| DrainError::Unreachable {
            method: self.name(),
            source,
        })
    }

    pub async fn drain(&self, task: &DrainTask) -> Result<(), DrainError> {
        match self {
            DrainMethod::Noop => Ok(()),
            DrainMethod::Test { .. } => self.test_update(|m| {
                m.entry(task.key()).or_insert_with(now);
            }),
            DrainMethod::Hacheck { expiration, .. } => {
                let form = format!(
                    "status=down&expiration={}&reason={}",
                    now() + expiration,
                    form_encode(&format!(
                        "Drained by Paasta: {}.{}",
                        task.service, task.instance
                    ))
                );
                self.hacheck_post(task, &form).await
            }
            DrainMethod::Http { .. } => self.http_action(task, |h| &h.drain).await.and_then(|ok| {
                if ok {
                    Ok(())
                } else {
                    Err(self.err("the drain URL did not answer with a success code".into()))
                }
            }),
        }
    }

    pub async fn stop_draining(&self, task: &DrainTask) -> Result<(), DrainError> {
        match self {
            DrainMethod::Noop => Ok(()),
            DrainMethod::Test { .. } => self.test_update(|m| {
                m.remove(&task.key());
            }),
            DrainMethod::Hacheck { .. } => self.hacheck_post(task, "status=up").await,
            DrainMethod::Http { .. } => self
                .http_action(task, |h| &h.stop_draining)
                .await
                .and_then(|ok| {
                    if ok {
                        Ok(())
                    } else {
                        Err(self
                            .err("the stop_draining URL did not answer with a success code".into()))
                    }
                }),
        }
    }

    pub async fn is_draining(&self, task: &DrainTask) -> Result<bool, DrainError> {
        match self {
            DrainMethod::Noop => Ok(false),
            DrainMethod::Test { .. } => Ok(self.test_state()?.contains_key(&task.key())),
            DrainMethod::Hacheck { .. } => {
                for status in self.hacheck_statuses(task).await? {
                    if !status.up {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            DrainMethod::Http { .. } => self.http_action(task, |h| &h.is_draining).await,
        }
    }

    pub async fn is_safe_to_kill(&self, task: &DrainTask) -> Result<bool, DrainError> {
        match self {
            DrainMethod::Noop => Ok(true),
            DrainMethod::Test { delay, .. } => Ok(self
                .test_state()?
                .get(&task.key())
                .is_some_and(|since| now() - since >= *delay)),
            DrainMethod::Hacheck { delay, .. } => {
                let t = now();
                for status in self.hacheck_statuses(task).await? {
                    let long_enough = status.since.is_some_and(|since| t - since > *delay);
                    if status.up || !long_enough {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            DrainMethod::Http { .. } => self.http_action(task, |h| &h.is_safe_to_kill).await,
        }
    }

    fn test_state(&self) -> Result<HashMap<String, f64>, DrainError> {
        let DrainMethod::Test { state, memory, .. } = self else {
            unreachable!("test method only")
        };
        match state {
            None => Ok(memory.lock().expect("no poisoning").clone()),
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => serde_json::from_str(&text)
                    .map_err(|e| self.err(format!("{}: {e}", path.display()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
                Err(e) => Err(self.err(format!("{}: {e}", path.display()))),
            },
        }
    }

    fn test_update(
        &self,
        change: impl FnOnce(&mut HashMap<String, f64>),
    ) -> Result<(), DrainError> {
        let DrainMethod::Test { state, memory, .. } = self else {
            unreachable!("test method only")
        };
        let mut m = self.test_state()?;
        change(&mut m);
        match state {
            None => *memory.lock().expect("no poisoning") = m,
            Some(path) => {
                let text = serde_json::to_string(&m).expect("a map of numbers serializes");
                soa::fsutil::write_atomic(path, text.as_bytes(), ".drain-state-")
                    .map_err(|e| self.err(e.to_string()))?;
            }
        }
        Ok(())
    }

    fn spool_url(&self, task: &DrainTask, registration: &str) -> String {
        let DrainMethod::Hacheck { port, .. } = self else {
            unreachable!("hacheck only")
        };
        format!(
            "http://{}:{port}/spool/{registration}/{}/status",
            task.host, task.port
        )
    }

    async fn hacheck_post(&self, task: &DrainTask, form: &str) -> Result<(), DrainError> {
        let DrainMethod::Hacheck { timeouts, .. } = self else {
            unreachable!("hacheck only")
        };
        for registration in &task.registrations {
            let url = self.spool_url(task, registration);
            let r = self.send("POST", &url, Some(form), *timeouts).await?;
            if !(200..300).contains(&r.status) {
                return Err(self.err(format!(
                    "POST {url} answered {}: {}",
                    r.status,
                    r.body.trim()
                )));
            }
        }
        Ok(())
    }

    async fn hacheck_statuses(&self, task: &DrainTask) -> Result<Vec<SpoolStatus>, DrainError> {
        let DrainMethod::Hacheck { timeouts, .. } = self else {
            unreachable!("hacheck only")
        };
        let mut out = Vec::new();
        for registration in &task.registrations {
            let url = self.spool_url(task, registration);
            let r = self.send("GET", &url, None, *timeouts).await?;
            out.push(if r.status == 200 {
                SpoolStatus {
                    up: true,
                    state: "up".into(),
                    since: None,
                    until: None,
                    reason: None,
                }
            } else {
                SpoolStatus::parse(&r.body).ok_or_else(|| {
                    self.err(format!(
                        "GET {url} answered {} with {:?}, not a spool status",
                        r.status,
                        r.body.trim()
                    ))
                })?
            });
        }
        Ok(out)
    }

    async fn http_action(
        &self,
        task: &DrainTask,
        action: fn(&HttpDrain) -> &HttpAction,
    ) -> Result<bool, DrainError> {
        let DrainMethod::Http { actions, timeouts } = self else {
            unreachable!("http only")
        };
        let a = action(actions);
        let url = a
            .url_format
            .replace("{host}", &task.host)
            .replace("{port}", &task.port.to_string())
            .replace("{service}", &task.service)
            .replace("{instance}", &task.instance)
            .replace("{nerve_ns}", task.nerve_ns());
        let r = self.send(&a.method, &url, None, *timeouts).await?;
        Ok(a.success_codes
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&r.status)))
    }
}

/// A hacheck spool answer: `Service <svc> in <state> state[ since <t>][ until <t>][: <reason>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolStatus {
    pub up: bool,
    pub state: String,
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub reason: Option<String>,
}

impl SpoolStatus {
    pub fn parse(body: &str) -> Option<SpoolStatus> {
        let rest = body.trim().strip_prefix("Service ")?;
        let (_, rest) = rest.split_once(" in ")?;
        let (state, mut rest) = rest.split_once(" state")?;
        let mut s = SpoolStatus {
            up: state == "up",
            state: state.to_string(),
            since: None,
            until: None,
            reason: None,
        };
        if let Some(r) = rest.strip_prefix(" since ") {
            let end = r.find([' ', ':']).unwrap_or(r.len());
            s.since = Some(r[..end].parse().ok()?);
            rest = &r[end..];
        }
        if let Some(r) = rest.strip_prefix(" until ") {
            let end = r.find([' ', ':']).unwrap_or(r.len());
            s.until = Some(r[..end].parse().ok()?);
            rest = &r[end..];
        }
        if let Some(r) = rest.strip_prefix(": ") {
            s.reason = Some(r.to_string());
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    #[test]
    fn spool_status_bodies() {
        let s = SpoolStatus::parse("Service svc.main in down state since 1546300800.5 until 1546303200.0: Drained by Paasta").unwrap();
        assert_eq!(
            (
                s.up,
                s.state.as_str(),
                s.since,
                s.until,
                s.reason.as_deref()
            ),
            (
                false,
                "down",
                Some(1546300800.5),
                Some(1546303200.0),
                Some("Drained by Paasta")
            )
        );
        let s = SpoolStatus::parse("Service svc.main in down state").unwrap();
        assert_eq!((s.since, s.reason), (None, None));
        assert!(SpoolStatus::parse("OK").is_none());
        assert_eq!(parse_codes("200-399").unwrap(), vec![(200, 399)]);
        assert_eq!(
            parse_codes("200, 202,300-302").unwrap(),
            vec![(200, 200), (202, 202), (300, 302)]
        );
        assert!(parse_codes("2xx").is_err());
    }

    fn method(name: &str, params: &Map<String, Value>) -> Result<DrainMethod, String> {
        DrainConfig::parse(name, params)
            .map(|c| DrainMethod::new(&c, Timeouts::default()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn noop_and_test_methods() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let task = DrainTask::new("svc", "main", "127.0.0.1", 31000, vec![]);
            assert_eq!(task.registrations, ["svc.main"]);
            let noop = method("noop", &Map::new()).unwrap();
            assert!(!noop.is_draining(&task).await.unwrap());
            assert!(noop.is_safe_to_kill(&task).await.unwrap());
            let dir = tempfile::tempdir().unwrap();
            let mut params = Map::new();
            params.insert(
                "state".into(),
                dir.path().join("s.json").display().to_string().into(),
            );
            params.insert("delay".into(), 0.2.into());
            let t = method("test", &params).unwrap();
            assert!(!t.is_draining(&task).await.unwrap());
            t.drain(&task).await.unwrap();
            assert!(t.is_draining(&task).await.unwrap());
            assert!(!t.is_safe_to_kill(&task).await.unwrap());
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            // Another instance of the method (another run) sees the same state.
            let again = method("test", &params).unwrap();
            assert!(again.is_safe_to_kill(&task).await.unwrap());
            again.stop_draining(&task).await.unwrap();
            assert!(!t.is_draining(&task).await.unwrap());
            assert!(method("nope", &Map::new())
                .unwrap_err()
                .contains("drain_method is \"nope\", expected noop, hacheck"));
            assert!(method("http", &Map::new())
                .unwrap_err()
                .contains("drain_method_params.drain is missing"));
        });
    }
}
