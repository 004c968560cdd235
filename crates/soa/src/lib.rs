//! The core of the toolkit: the yelpsoa-configs tree and system config model, validation,
//! deployments.json, app-independent naming rules, time variables, job schedules and which job
//! runs are due (`jobs`), and the service repositories' tags (`git`).
//!
//! Reads: `<soa_dir>/<service>/{service,deploy,monitoring,smartstack}.yaml`,
//! `<soa_dir>/<service>/<marathon|chronos|adhoc>-<cluster>.yaml`, `deployments.json`, and every
//! `*.json` of the system config directory. Writes: deployments.json (atomically), tags in
//! service repositories (through the git command, which alone reaches a remote, under a time
//! limit). Synchronous; the binaries that need Docker or HTTP do that themselves.

pub mod chronos;
pub mod deployments;
pub mod docker_args;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod instance;
pub mod jobs;
pub mod marathon;
pub use pyjson;
pub mod schedule;
pub mod schema;
pub mod select;
pub mod sensu;
pub mod service;
pub mod system;
pub mod timevars;
pub mod tron;
pub mod validate;
pub mod yaml;

pub use error::{Error, Problem, Result};
pub use schema::InstanceType;
pub use service::{InstanceConfig, Service};
pub use system::SystemConfig;

use std::path::PathBuf;

/// The soa-configs root: the flag's value, else `$SOA_DIR`, else `/nail/etc/services`.
/// (clap reads `SOA_DIR` itself; this is for callers without a flag.)
pub fn default_soa_dir() -> PathBuf {
    std::env::var_os("SOA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(service::DEFAULT_SOA_DIR))
}

/// Instance names PaaSTA accepts: `^([a-z0-9]|[a-z0-9][a-z0-9_-]*[a-z0-9])*$`.
pub fn valid_instance_name(name: &str) -> bool {
    let b = name.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match b {
        [] => true,
        [one] => inner(one),
        [first, mid @ .., last] => {
            inner(first) && inner(last) && mid.iter().all(|c| inner(c) || *c == b'_' || *c == b'-')
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instance_names() {
        for ok in ["main", "canary_eu", "a", "a-1", "0"] {
            assert!(super::valid_instance_name(ok), "{ok}");
        }
        for bad in ["Main", "-a", "a_", "a.b", "a b"] {
            assert!(!super::valid_instance_name(bad), "{bad}");
        }
    }
}
