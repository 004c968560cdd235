//! Containers, shared by local-run, setup-service, rerun and dsdt-run: the one place that turns
//! an instance config into a container spec (`spec`), the Docker Engine client over its API
//! (`engine`), health probes (`health`) and the one HTTP client of probes and drain
//! endpoints (`http`).
//!
//! Reads: instance configs (from `soa`), the system config's volumes. Acts on: the local Docker
//! engine (`DOCKER_HOST` or /var/run/docker.sock). Async (tokio) because bollard is; callers
//! build a current-thread runtime inside their `run`.

pub mod engine;
pub mod health;
pub mod http;
pub mod spec;

pub use engine::{Engine, EngineError};
pub use spec::{ContainerSpec, SpecOptions};

/// The current-thread runtime the unit tests of this crate's async code run on.
#[cfg(test)]
pub(crate) fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
