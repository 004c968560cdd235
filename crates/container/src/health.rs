//! Health probes as Marathon runs them for PaaSTA (docs/paasta.md §3): http and https pass on
//! 200–399, tcp on a connection, cmd on exit status 0 inside the container. The policy: failures
//! during the grace period do not count; after it, `max_failures` consecutive failures make the
//! task unhealthy; the first pass makes it healthy.
//!
//! http and https go through the project's one HTTP client (`crate::http`); https does not
//! verify the certificate: services behind health checks commonly serve self-signed ones, and
//! Marathon's https checks did not verify either.

use crate::engine::Engine;
use crate::spec::EngineHealthcheck;
use soa::instance::HealthcheckMode;
use soa::InstanceConfig;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Probe {
    Http { path: String },
    Https { path: String },
    Tcp,
    Cmd { command: String },
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Http { path } => write!(f, "http GET {path}"),
            Probe::Https { path } => write!(f, "https GET {path}"),
            Probe::Tcp => f.write_str("tcp connect"),
            Probe::Cmd { command } => write!(f, "cmd {command:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Policy {
    pub grace: Duration,
    pub interval: Duration,
    pub timeout: Duration,
    pub max_failures: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            grace: Duration::from_secs(60),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            max_failures: 30,
        }
    }
}

/// The probe and policy of a long-running instance (the loader resolved its health check, as
/// the Marathon app definition uses it); None when nothing says to check.
pub fn probe_for(config: &InstanceConfig) -> Option<(Probe, Policy)> {
    let h = config.long_running()?.healthcheck.clone()?;
    let probe = match h.mode {
        HealthcheckMode::Http => Probe::Http { path: h.path },
        HealthcheckMode::Https => Probe::Https { path: h.path },
        HealthcheckMode::Tcp => Probe::Tcp,
        HealthcheckMode::Cmd => Probe::Cmd { command: h.command },
    };
    let policy = Policy {
        grace: Duration::from_secs_f64(h.grace_seconds),
        interval: Duration::from_secs_f64(h.interval_seconds),
        timeout: Duration::from_secs_f64(h.timeout_seconds),
        max_failures: h.max_consecutive_failures as u32,
    };
    Some((probe, policy))
}

/// The probe as a health check the engine runs inside the container, against the port the
/// service listens on there. Marathon probed from outside; a single Docker host has no agent to
/// do that between setup-service's runs, so the engine keeps the count of consecutive failures.
/// http and https use curl when the image has it, else wget (busybox's included); tcp uses nc.
/// An image with none of them can only use `healthcheck_mode: cmd`. wget gets no time limit of
/// its own (busybox's crashes on -T); the engine ends a probe that outlasts the timeout.
pub fn engine_healthcheck(probe: &Probe, policy: Policy, port: u16) -> EngineHealthcheck {
    let secs = policy.timeout.as_secs().max(1);
    let fetch = |scheme: &str, path: &str, insecure: (&str, &str)| {
        let url = shell_escape::unix::escape(format!("{scheme}://127.0.0.1:{port}{path}").into());
        format!(
            "if command -v curl >/dev/null 2>&1; then curl -fsS {}-o /dev/null --max-time {secs} {url}; \
             else wget -q {}-O /dev/null {url}; fi",
            insecure.0, insecure.1
        )
    };
    let script = match probe {
        Probe::Http { path } => fetch("http", path, ("", "")),
        Probe::Https { path } => fetch("https", path, ("-k ", "--no-check-certificate ")),
        Probe::Tcp => format!("nc -w {secs} 127.0.0.1 {port} </dev/null >/dev/null"),
        Probe::Cmd { command } => command.clone(),
    };
    EngineHealthcheck {
        test: vec!["CMD-SHELL".into(), script],
        interval: policy.interval,
        timeout: policy.timeout,
        start_period: policy.grace,
        retries: policy.max_failures,
    }
}

/// Where a probe looks.
pub struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    /// For cmd probes: the engine and container to exec in.
    pub container: Option<(&'a Engine, &'a str)>,
}

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error("GET {path} answered {status}")]
    Status { path: String, status: u16 },
    #[error("a cmd health check needs a running container")]
    NoContainer,
    #[error(transparent)]
    Exec(#[from] crate::engine::EngineError),
    #[error("{command:?} exited {code}")]
    Exited { command: String, code: i64 },
    #[error("no answer within {seconds} s")]
    Timeout { seconds: f64 },
}

/// One probe; Err says why it failed.
pub async fn check(
    probe: &Probe,
    target: &Target<'_>,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let work = async {
        match probe {
            Probe::Tcp => TcpStream::connect((target.host, target.port))
                .await
                .map(|_| ())
                .map_err(|source| ProbeError::Connect {
                    host: target.host.to_string(),
                    port: target.port,
                    source,
                }),
            Probe::Http { path } => http_status("http", target, path, timeout).await,
            Probe::Https { path } => http_status("https", target, path, timeout).await,
            Probe::Cmd { command } => {
                let (engine, id) = target.container.ok_or(ProbeError::NoContainer)?;
                let code = engine
                    .exec(id, vec!["sh".into(), "-c".into(), command.clone()])
                    .await?;
                if code == 0 {
                    Ok(())
                } else {
                    Err(ProbeError::Exited {
                        command: command.clone(),
                        code,
                    })
                }
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(ProbeError::Timeout {
            seconds: timeout.as_secs_f64(),
        }))
}

/// GET `path`; passes on 200–399 (no redirect is followed, as Marathon did not).
async fn http_status(
    scheme: &str,
    target: &Target<'_>,
    path: &str,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.to_string()
    };
    let url = format!("{scheme}://{host}:{}{path}", target.port);
    let answer = crate::http::Request {
        method: "GET",
        url: &url,
        form: None,
        timeouts: crate::http::Timeouts {
            connect: timeout,
            total: timeout,
        },
        insecure_tls: true,
    }
    .send()
    .await?;
    if (200..400).contains(&answer.status) {
        Ok(())
    } else {
        Err(ProbeError::Status {
            path: path.to_string(),
            status: answer.status,
        })
    }
}

/// The result of health checking until a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy { attempts: u32 },
    Unhealthy { attempts: u32, last_error: String },
}

/// Probes every `interval` until the first pass (healthy) or `max_failures` consecutive
/// failures after the grace period (unhealthy). `still_running` ends it early, unhealthy, when
/// the container has exited. `report` hears each failure.
pub async fn wait_healthy<F, Fut>(
    probe: &Probe,
    policy: Policy,
    target: &Target<'_>,
    mut still_running: F,
    mut report: impl FnMut(u32, &str),
) -> Verdict
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let mut attempts = 0;
    let mut counted_failures = 0;
    loop {
        attempts += 1;
        match check(probe, target, policy.timeout).await {
            Ok(()) => return Verdict::Healthy { attempts },
            Err(e) => {
                let e = e.to_string();
                report(attempts, &e);
                if started.elapsed() >= policy.grace {
                    counted_failures += 1;
                }
                if counted_failures >= policy.max_failures {
                    return Verdict::Unhealthy {
                        attempts,
                        last_error: e,
                    };
                }
                if !still_running().await {
                    return Verdict::Unhealthy {
                        attempts,
                        last_error: format!("the container exited ({e})"),
                    };
                }
            }
        }
        tokio::time::sleep(policy.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_runtime as rt;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-connection-at-a-time HTTP server answering `status`.
    async fn serve(status: u16) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                    )
                    .await;
            }
        });
        port
    }

    #[test]
    fn http_passes_on_200_to_399_only() {
        rt().block_on(async {
            for (status, ok) in [
                (200, true),
                (302, true),
                (399, true),
                (404, false),
                (500, false),
            ] {
                let port = serve(status).await;
                let t = Target {
                    host: "127.0.0.1",
                    port,
                    container: None,
                };
                assert_eq!(
                    check(
                        &Probe::Http {
                            path: "/status".into()
                        },
                        &t,
                        Duration::from_secs(2)
                    )
                    .await
                    .is_ok(),
                    ok,
                    "{status}"
                );
            }
        });
    }

    #[test]
    fn tcp_and_refused() {
        rt().block_on(async {
            let port = serve(200).await;
            assert!(check(
                &Probe::Tcp,
                &Target {
                    host: "127.0.0.1",
                    port,
                    container: None
                },
                Duration::from_secs(2)
            )
            .await
            .is_ok());
            let closed = TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let err = check(
                &Probe::Tcp,
                &Target {
                    host: "127.0.0.1",
                    port: closed,
                    container: None,
                },
                Duration::from_secs(2),
            )
            .await
            .unwrap_err();
            assert!(err.to_string().contains("cannot connect"), "{err}");
        });
    }

    #[test]
    fn https_with_a_self_signed_certificate() {
        rt().block_on(async {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
            let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
                .unwrap();
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                loop {
                    let (s, _) = listener.accept().await.unwrap();
                    if let Ok(mut tls) = acceptor.accept(s).await {
                        let mut buf = [0u8; 1024];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                        let _ = tls.shutdown().await;
                    }
                }
            });
            let t = Target {
                host: "localhost",
                port,
                container: None,
            };
            check(
                &Probe::Https {
                    path: "/health".into(),
                },
                &t,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
            // The same port spoken to in plain HTTP is no HTTP answer.
            assert!(check(
                &Probe::Http { path: "/".into() },
                &t,
                Duration::from_secs(2)
            )
            .await
            .is_err());
        });
    }

    #[test]
    fn policy_grace_and_consecutive_failures() {
        rt().block_on(async {
            let closed = TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let t = Target {
                host: "127.0.0.1",
                port: closed,
                container: None,
            };
            let policy = Policy {
                grace: Duration::from_millis(100),
                interval: Duration::from_millis(20),
                timeout: Duration::from_secs(1),
                max_failures: 3,
            };
            let mut failures = 0;
            let v = wait_healthy(
                &Probe::Tcp,
                policy,
                &t,
                || async { true },
                |_, _| failures += 1,
            )
            .await;
            let Verdict::Unhealthy { attempts, .. } = v else {
                panic!("{v:?}")
            };
            // Failures in the first 100 ms do not count: more than 3 attempts were made.
            assert!(attempts > 3, "{attempts}");
            assert_eq!(failures, attempts);
            let port = serve(200).await;
            let t = Target {
                host: "127.0.0.1",
                port,
                container: None,
            };
            assert_eq!(
                wait_healthy(&Probe::Tcp, policy, &t, || async { true }, |_, _| ()).await,
                Verdict::Healthy { attempts: 1 }
            );
        });
    }
}
