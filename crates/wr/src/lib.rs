//! wr's manager, as a library: the configuration (`config`), jobs and their states (`job`),
//! the queue database (`queue`), its backup (`backup`), the pure scheduler core (`sched`,
//! `cloud`) and the clouds servers come from (`provider`: `openstack`, `docker_cloud`).
//! The `wr-cloud` binary does the I/O around them.

pub mod backup;
pub mod cloud;
pub mod config;
pub mod docker_cloud;
pub mod job;
pub mod openstack;
pub mod provider;
pub mod queue;
pub mod sched;
