//! What a cluster runs and how it is moved safely: the backend trait (a cluster that runs apps
//! and their tasks) with its docker and snapshot implementations, the bounce methods (pure
//! decisions), the drain methods (noop, test, hacheck, http) that take a task out of its load
//! balancer before it is killed, instance locks and Sensu delivery. setup-service,
//! check-replication and the `drain` binary share them.
//!
//! Talks to: the Docker engine (docker backend), drain endpoints over HTTP (hacheck's spool API,
//! or the URLs of the http method) and the Sensu client socket, each with short time limits.

pub mod backend;
pub mod bounce;
pub mod docker;
pub mod drain;
pub mod http;
pub mod lock;
pub mod sensu;
pub mod snapshot;

pub use backend::{Action, App, AppSpec, Backend, BackendError, Backoff, Health, Task, TaskState};
