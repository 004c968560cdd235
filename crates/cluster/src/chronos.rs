//! The Chronos client (`--backend chronos:URL[,URL…]`, or `chronos` alone for the system
//! config's `chronos_config`): scheduled jobs on an existing Mesos cluster, through Chronos'
//! REST API, as PaaSTA v0.86 drives it. Chronos schedules the jobs itself, so this is not a
//! `Backend` of runs: the tools define jobs (soa::chronos builds them) and act on them.
//!
//! - a job is created or replaced by `POST /scheduler/iso8601` (a scheduled one) or
//!   `POST /scheduler/dependency` (one with parents), its body as chronos-python writes it;
//! - `GET /scheduler/jobs` lists every job, `GET /scheduler/jobs/search?name=` finds one;
//! - `PUT /scheduler/job/<name>` runs it now, `DELETE /scheduler/job/<name>` removes it,
//!   `DELETE /scheduler/task/kill/<name>` kills its tasks;
//! - `GET /scheduler/graph/csv` gives each job's last status and state.

use crate::backend::Result;
use crate::rest::{segment, Body, Request, Rest};
use serde_json::Value;
use soa::chronos::GraphNode;
use std::time::Duration;

pub struct Chronos {
    rest: Rest,
}

/// Whether `--backend` names Chronos.
pub fn chosen(choice: &str) -> bool {
    choice == "chronos" || choice.starts_with("chronos:")
}

impl Chronos {
    /// `chronos:URL[,URL…]`, or `chronos` alone: the system config's `chronos_config`.
    pub fn open(choice: &str, timeout: Duration) -> Result<Chronos> {
        let urls = crate::rest::urls_for(choice, "chronos", &["chronos_config"])?;
        Ok(Chronos {
            rest: Rest::new("chronos", &urls, timeout)?,
        })
    }

    pub fn api_calls(&self) -> usize {
        self.rest.calls()
    }

    /// Every job Chronos has.
    pub async fn jobs(&self) -> Result<Vec<Value>> {
        let v = self.rest.call("GET", "/scheduler/jobs", None).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// The jobs whose names contain `name` (Chronos' search): a job and its reruns'
    /// temporary jobs.
    pub async fn search(&self, name: &str) -> Result<Vec<Value>> {
        let v = self
            .rest
            .call(
                "GET",
                &format!("/scheduler/jobs/search?name={}", segment(name)),
                None,
            )
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// The job named exactly `name`.
    pub async fn find(&self, name: &str) -> Result<Option<Value>> {
        Ok(self
            .search(name)
            .await?
            .into_iter()
            .find(|j| j["name"] == name))
    }

    /// The request that creates or replaces `job`.
    pub fn put_request(job: &Value) -> Request {
        Request {
            method: "POST",
            path: soa::chronos::endpoint_for(job).into(),
            body: job.clone(),
        }
    }

    pub async fn send(&self, r: &Request) -> Result<()> {
        let body = (!r.body.is_null()).then_some((&r.body, Body::AsBuilt));
        self.rest
            .call_text(r.method, &r.path, body)
            .await
            .map(|_| ())
    }

    /// `method` on `/scheduler/job/<name>`: PUT runs the job now, DELETE removes it.
    fn job_request(method: &'static str, name: &str) -> Request {
        Request {
            method,
            path: format!("/scheduler/job/{}", segment(name)),
            body: Value::Null,
        }
    }

    /// The request that removes the job `name`.
    pub fn delete_request(name: &str) -> Request {
        Self::job_request("DELETE", name)
    }

    /// Creates or replaces `job`.
    pub async fn put(&self, job: &Value) -> Result<()> {
        self.send(&Self::put_request(job)).await
    }

    pub async fn run_now(&self, name: &str) -> Result<()> {
        self.send(&Self::job_request("PUT", name)).await
    }

    /// Kills the job's tasks in flight.
    pub async fn kill(&self, name: &str) -> Result<()> {
        let path = format!("/scheduler/task/kill/{}", segment(name));
        self.rest.call_text("DELETE", &path, None).await.map(|_| ())
    }

    /// Each job's last status and state.
    pub async fn graph(&self) -> Result<Vec<GraphNode>> {
        let csv = self
            .rest
            .call_text("GET", "/scheduler/graph/csv", None)
            .await?;
        Ok(soa::chronos::parse_graph(&csv))
    }
}
