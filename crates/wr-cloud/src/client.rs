//! The manager's client: HTTPS to `managerhost:managerport`, trusting only the manager's CA,
//! with the token. Used by the commands and the runners.

use crate::api::ApiError;
use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

/// Why a request failed: the manager could not be reached, or it answered with an error.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the manager at {url} cannot be reached: {source} (is it started? `wr-cloud manager start`)")]
    Unreachable { url: String, source: ureq::Error },
    #[error("the manager answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the manager's answer does not read: {0}")]
    Body(String),
}

pub enum Answer<T> {
    Some(T),
    /// 204, or 410 for a runner's touch.
    Empty(u16),
}

impl Client {
    pub fn new(
        host: &str,
        port: u16,
        ca: &Path,
        token: String,
        timeout: Duration,
    ) -> Result<Client> {
        let pem = std::fs::read(ca).with_context(|| {
            format!(
                "reading the manager's CA {} (is the manager started for this deployment?)",
                ca.display()
            )
        })?;
        let cert =
            ureq::tls::Certificate::from_pem(&pem).map_err(|e| anyhow!("{}: {e}", ca.display()))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(Duration::from_secs(5)))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                    .build(),
            )
            .build()
            .into();
        Ok(Client {
            agent,
            base: format!("https://{host}:{port}"),
            token,
        })
    }

    fn finish<T: DeserializeOwned>(
        &self,
        url: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer<T>, CallError> {
        let mut r = r.map_err(|source| CallError::Unreachable {
            url: url.to_string(),
            source,
        })?;
        let status = r.status().as_u16();
        if status == 204 || status == 410 {
            return Ok(Answer::Empty(status));
        }
        let body = r
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| CallError::Body(e.to_string()))?;
        if status != 200 {
            let message = serde_json::from_str::<ApiError>(&body)
                .map(|e| e.error)
                .unwrap_or(body);
            return Err(CallError::Status { status, message });
        }
        serde_json::from_str(&body)
            .map(Answer::Some)
            .map_err(|e| CallError::Body(e.to_string()))
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Answer<T>, CallError> {
        let url = format!("{}{path}", self.base);
        let body = serde_json::to_vec(body).expect("requests serialize");
        let r = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(&body[..]);
        self.finish(&url, r)
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, CallError> {
        let url = format!("{}{path}", self.base);
        let r = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .call();
        self.finish(&url, r)
    }

    /// A GET whose answer is JSON lines, each passed to `line` as it arrives.
    pub fn get_lines(&self, path: &str, mut line: impl FnMut(&str) -> Result<()>) -> Result<()> {
        use std::io::BufRead;
        let url = format!("{}{path}", self.base);
        let mut r = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|source| CallError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = r.status().as_u16();
        let reader = std::io::BufReader::new(r.body_mut().with_config().limit(u64::MAX).reader());
        if status != 200 {
            let body: String = reader.lines().map_while(Result::ok).collect();
            let message = serde_json::from_str::<ApiError>(&body)
                .map(|e| e.error)
                .unwrap_or(body);
            bail!(CallError::Status { status, message });
        }
        for l in reader.lines() {
            let l = l.context("reading the manager's answer")?;
            if !l.is_empty() {
                line(&l)?;
            }
        }
        Ok(())
    }
}

/// The value, or an error for an empty answer where one was due.
pub fn some<T>(a: Answer<T>) -> Result<T> {
    match a {
        Answer::Some(v) => Ok(v),
        Answer::Empty(s) => Err(anyhow!("the manager answered {s} with no body")),
    }
}
