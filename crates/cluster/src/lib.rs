//! What a cluster runs and how it is moved safely: the bounce methods (pure decisions) and the
//! drain methods (noop, test, hacheck, http) that take a task out of its load balancer before
//! it is killed. setup-service and the `drain` binary share them.
//!
//! Talks to: drain endpoints over HTTP (hacheck's spool API, or the URLs of the http method),
//! with short connect and total timeouts.

pub mod bounce;
pub mod drain;
pub mod http;
