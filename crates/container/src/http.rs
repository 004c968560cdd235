//! The project's one HTTP client, for health probes and drain endpoints: ureq, with a connect
//! limit and a total limit per request, so a slow or dead endpoint costs seconds, never a
//! stalled deploy. Any status is an answer (the caller judges it); only a failure to get one is
//! an error.
//!
//! ureq blocks, and its callers run on a current-thread tokio runtime: each request runs on
//! tokio's blocking pool, so the runtime (and the other tasks it drives) keeps going meanwhile.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// One request: what it is, and what it asks of the connection.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// An `application/x-www-form-urlencoded` body, already encoded.
    pub form: Option<&'a str>,
    pub timeouts: Timeouts,
    /// Accept any certificate: health-checked services commonly serve self-signed ones, and
    /// Marathon's https checks did not verify either.
    pub insecure_tls: bool,
}

/// Why no answer came; each names the request.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HttpError {
    #[error("{method} {url}: no connection within {seconds} s")]
    ConnectTimeout {
        method: String,
        url: String,
        seconds: f64,
    },
    #[error("{method} {url}: no answer within {seconds} s")]
    Timeout {
        method: String,
        url: String,
        seconds: f64,
    },
    #[error("{method} {url}: {reason}")]
    Failed {
        method: String,
        url: String,
        reason: String,
    },
}

impl Request<'_> {
    /// Sends the request and waits for the whole answer; blocks the calling thread.
    pub fn send_blocking(&self) -> Result<Response, HttpError> {
        let failed = |reason: String| HttpError::Failed {
            method: self.method.to_string(),
            url: self.url.to_string(),
            reason,
        };
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(failed(
                "only http:// and https:// URLs are supported".into(),
            ));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(self.timeouts.connect))
            .timeout_global(Some(self.timeouts.total))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("paasta-toolkit")
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .disable_verification(self.insecure_tls)
                    .build(),
            )
            .build()
            .into();
        let builder = ureq::http::Request::builder()
            .method(self.method)
            .uri(self.url);
        let sent = match self.form {
            Some(form) => builder
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form.to_string())
                .map_err(|e| failed(e.to_string()))
                .and_then(|r| agent.run(r).map_err(|e| self.error(e))),
            None => builder
                .body(())
                .map_err(|e| failed(e.to_string()))
                .and_then(|r| agent.run(r).map_err(|e| self.error(e))),
        };
        let mut answer = sent?;
        let status = answer.status().as_u16();
        let body = answer
            .body_mut()
            .read_to_string()
            .map_err(|e| self.error(e))?;
        Ok(Response { status, body })
    }

    /// Sends the request on tokio's blocking pool.
    pub async fn send(&self) -> Result<Response, HttpError> {
        let owned = (
            self.method.to_string(),
            self.url.to_string(),
            self.form.map(str::to_string),
        );
        let (timeouts, insecure_tls) = (self.timeouts, self.insecure_tls);
        tokio::task::spawn_blocking(move || {
            Request {
                method: &owned.0,
                url: &owned.1,
                form: owned.2.as_deref(),
                timeouts,
                insecure_tls,
            }
            .send_blocking()
        })
        .await
        .unwrap_or_else(|e| {
            Err(HttpError::Failed {
                method: self.method.to_string(),
                url: self.url.to_string(),
                reason: format!("the request's thread failed: {e}"),
            })
        })
    }

    fn error(&self, e: ureq::Error) -> HttpError {
        let (method, url) = (self.method.to_string(), self.url.to_string());
        match e {
            ureq::Error::Timeout(ureq::Timeout::Connect) => HttpError::ConnectTimeout {
                method,
                url,
                seconds: self.timeouts.connect.as_secs_f64(),
            },
            ureq::Error::Timeout(_) => HttpError::Timeout {
                method,
                url,
                seconds: self.timeouts.total.as_secs_f64(),
            },
            ureq::Error::Io(io) => HttpError::Failed {
                method,
                url,
                reason: io.to_string(),
            },
            other => HttpError::Failed {
                method,
                url,
                reason: other.to_string(),
            },
        }
    }
}

/// Form-encodes one value (`application/x-www-form-urlencoded`).
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_runtime as rt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn get(url: &str, timeouts: Timeouts) -> Request<'_> {
        Request {
            method: "GET",
            url,
            form: None,
            timeouts,
            insecure_tls: false,
        }
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode("Drained by Paasta: x/y"),
            "Drained+by+Paasta%3A+x%2Fy"
        );
    }

    #[test]
    fn any_status_is_an_answer_and_the_form_arrives() {
        rt().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !String::from_utf8_lossy(&seen).contains("status=down") {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the request ended early");
                    seen.extend_from_slice(&buf[..n]);
                }
                s.write_all(b"HTTP/1.1 503 X\r\nContent-Length: 4\r\n\r\nbusy")
                    .await
                    .unwrap();
                String::from_utf8(seen).unwrap()
            });
            let url = format!("http://127.0.0.1:{port}/spool/a/1/status");
            let r = Request {
                method: "POST",
                url: &url,
                form: Some("status=down"),
                timeouts: Timeouts::default(),
                insecure_tls: false,
            }
            .send()
            .await
            .unwrap();
            assert_eq!(
                r,
                Response {
                    status: 503,
                    body: "busy".into()
                }
            );
            let seen = server.await.unwrap();
            assert!(
                seen.starts_with("POST /spool/a/1/status HTTP/1.1\r\n"),
                "{seen}"
            );
            assert!(seen.contains("application/x-www-form-urlencoded"), "{seen}");
        });
    }

    #[test]
    fn a_silent_endpoint_costs_the_total_timeout_only() {
        rt().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            // Accepts and never answers.
            tokio::spawn(async move {
                let mut held = Vec::new();
                loop {
                    let (s, _) = listener.accept().await.unwrap();
                    held.push(s);
                }
            });
            let started = std::time::Instant::now();
            let t = Timeouts {
                connect: Duration::from_millis(200),
                total: Duration::from_millis(300),
            };
            let url = format!("http://127.0.0.1:{port}/x");
            let err = get(&url, t).send().await.unwrap_err();
            assert!(err.to_string().contains("no answer within 0.3 s"), "{err}");
            assert!(started.elapsed() < Duration::from_secs(1));
        });
    }

    #[test]
    fn refused_and_unsupported_urls_say_so() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{closed}/");
        let err = get(&url, Timeouts::default()).send_blocking().unwrap_err();
        assert!(
            matches!(&err, HttpError::Failed { reason, .. } if !reason.is_empty()),
            "{err:?}"
        );
        let err = get("ftp://h/", Timeouts::default())
            .send_blocking()
            .unwrap_err();
        assert!(
            err.to_string().contains("only http:// and https://"),
            "{err}"
        );
    }
}
