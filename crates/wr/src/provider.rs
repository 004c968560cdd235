//! The clouds `wr-cloud` deploys into, behind one trait: what `cloud deploy` creates, what the
//! cloud scheduler spawns and destroys, and what `cloud teardown` removes. Two providers:
//! OpenStack over its REST APIs ([`crate::openstack`]) and Docker, "a cloud on this host"
//! ([`crate::docker_cloud`]).
//!
//! Calls block (the manager makes them off its async threads); each waits for what it asked
//! for (a server ACTIVE, a server gone), so callers see one finished step or one error.
//! Everything a deployment creates is named by its prefix (`wr-prod-<name>`), so a repeated
//! deploy finds what an earlier one made and a teardown finds what a lost resource file forgot.

use crate::cloud::{Flavor, Quota};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A bootable image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: String,
    /// GB the image needs at least.
    pub min_disk: u64,
    /// MB the image needs at least.
    pub min_ram: u64,
}

/// A server as the cloud reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub name: String,
    /// The cloud's word: ACTIVE, BUILD, ERROR, … (docker: ACTIVE while the container runs).
    pub status: String,
    pub flavor: String,
    /// The address on the deployment's network.
    pub ip: Option<String>,
    /// The address reachable from outside (a floating IP; docker: the container's address).
    pub public_ip: Option<String>,
}

/// The network a deployment makes for itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPlan {
    pub cidr: String,
    pub gateway: String,
    pub dns: Vec<String>,
}

/// What a new server is made of.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// `<prefix>-<uuid>`.
    pub name: String,
    pub flavor: Flavor,
    pub image: Image,
    /// GB of disk wanted; more than the flavor's makes a boot volume of this size.
    pub disk: u64,
    /// A public address (the head node).
    pub external_ip: bool,
    /// The login name (the docker provider makes it; OpenStack images come with theirs).
    pub user: String,
    /// Run by the server at first boot.
    pub user_data: String,
    /// How long it may take to become ACTIVE.
    pub timeout: Duration,
}

/// The resources a deployment made, kept in `cloud_resources.<provider>.<prefix>` (JSON, 0600)
/// in the manager's directory so the next deploy and the teardown find them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    pub provider: String,
    /// `wr-prod-<name>`: the name of every resource.
    pub prefix: String,
    pub keypair: Option<String>,
    /// The deployment's public key (the docker provider installs it on each server).
    pub public_key: Option<String>,
    pub security_group: Option<String>,
    pub network: Option<String>,
    pub subnet: Option<String>,
    pub router: Option<String>,
    /// Whether deploy made the network (a manager inside the cloud uses its own).
    pub made_network: bool,
    /// The head node, once spawned.
    pub head: Option<Instance>,
    /// The login name on the head node.
    pub user: String,
}

/// What a provider call could not do.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A variable the provider needs is not set.
    #[error("{0}")]
    Setup(String),
    /// The cloud cannot be reached.
    #[error("{service} at {url} cannot be reached: {message}")]
    Unreachable {
        service: &'static str,
        url: String,
        message: String,
    },
    /// The cloud answered with an error.
    #[error("{service} answered {status} to {method} {url}: {message}")]
    Api {
        service: &'static str,
        method: &'static str,
        url: String,
        status: u16,
        message: String,
    },
    /// Over quota, no valid host, a build that failed or timed out.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

impl ProviderError {
    /// Whether the cloud said the thing is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProviderError::Api { status: 404, .. })
    }
}

pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// What `teardown` removed, by kind and name or id, and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub removed: Vec<String>,
    pub errors: Vec<String>,
}

impl Removed {
    pub fn note(&mut self, what: String, r: Result<bool>) {
        match r {
            Ok(true) => self.removed.push(what),
            Ok(false) => {}
            Err(e) => self.errors.push(format!("{what}: {e}")),
        }
    }
}

/// A cloud: its sizes, images and quota; the deployment's resources; servers.
pub trait Provider: Send + Sync {
    /// `openstack` or `docker`: the word in the resource file's name.
    fn name(&self) -> &'static str;
    fn flavors(&self) -> Result<Vec<Flavor>>;
    fn images(&self) -> Result<Vec<Image>>;
    fn quota(&self) -> Result<Quota>;
    /// Gets or creates, by `res.prefix`, the keypair (with `public_key`), the security group
    /// (open to `ports`, TCP, and ICMP), and unless `net` is None (a manager inside the cloud)
    /// the network, subnet and router. Fills `res`; running it again changes nothing.
    fn prepare(
        &self,
        res: &mut Resources,
        public_key: &str,
        ports: &[u16],
        net: Option<&NetworkPlan>,
    ) -> Result<()>;
    /// Creates a server and waits until it is ACTIVE (and has its public address when asked).
    /// A server that fails is deleted before the error returns.
    fn spawn(&self, res: &Resources, spec: &SpawnSpec) -> Result<Instance>;
    /// The server, or None when it is gone.
    fn instance(&self, id: &str) -> Result<Option<Instance>>;
    /// The deployment's servers: those `of_deployment(name, prefix)`.
    fn instances(&self, prefix: &str) -> Result<Vec<Instance>>;
    /// Deletes a server and waits until it is gone; releases its public address. False when it
    /// was gone already.
    fn destroy(&self, id: &str) -> Result<bool>;
    /// Deletes every server of the prefix, then the router, network, security group, keypair
    /// and public addresses, whatever the resource file remembers or forgot. Not-found is not an
    /// error; other errors are collected, not stopped at.
    fn teardown(&self, prefix: &str) -> Removed;
}

/// The image `os` names: an exact name, else the one whose name or id starts with it (the
/// newest listed first wins). The error lists what exists.
pub fn pick_image<'a>(images: &'a [Image], os: &str) -> Result<&'a Image, String> {
    images
        .iter()
        .find(|i| i.name == os)
        .or_else(|| {
            images
                .iter()
                .find(|i| i.name.starts_with(os) || i.id.starts_with(os))
        })
        .ok_or_else(|| {
            let mut names: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
            names.sort_unstable();
            format!(
                "no image is named {os:?} or has a name or id starting with it; the images are: {}",
                if names.is_empty() {
                    "(none)".to_string()
                } else {
                    names.join(", ")
                }
            )
        })
}

/// Whether a server named `name` is one of the deployment `prefix`'s (`<prefix>-<uuid>`): not
/// merely a name that starts with the prefix, which another deployment's (`<prefix>x-…`) does.
pub fn of_deployment(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('-'))
}

/// The hostname of a server name, as servers know themselves: lower case, each run of other
/// characters than `a-z0-9-` made one `-`, at most 63 characters.
pub fn host_name(name: &str) -> String {
    let mut out = String::new();
    let mut run = false;
    for c in name.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            out.push(c);
            run = false;
        } else if !run {
            out.push('-');
            run = true;
        }
    }
    out.chars().take(63).collect()
}

/// The user data every server boots with: sudo without a tty, FUSE's user_allow_other, and the
/// sentinel file that says boot is done.
pub const USER_DATA: &str = "#!/bin/bash\n\
sed -i 's/^Defaults\\s*requiretty/#&/' /etc/sudoers 2>/dev/null\n\
sed -i 's/^#\\s*user_allow_other/user_allow_other/' /etc/fuse.conf 2>/dev/null\n\
sysctl -w kernel.sysrq=176 2>/dev/null\n\
touch /tmp/.wr_cloud_sentinel\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, name: &str) -> Image {
        Image {
            id: id.into(),
            name: name.into(),
            min_disk: 0,
            min_ram: 0,
        }
    }

    #[test]
    fn images_are_picked_by_exact_name_then_prefix() {
        let all = [
            image("aaa1", "debian-12-large"),
            image("bbb2", "debian-12"),
            image("ccc3", "ubuntu-24.04"),
        ];
        assert_eq!(pick_image(&all, "debian-12").unwrap().id, "bbb2");
        assert_eq!(pick_image(&all, "ubuntu").unwrap().id, "ccc3");
        assert_eq!(pick_image(&all, "aaa").unwrap().id, "aaa1");
        let e = pick_image(&all, "centos").unwrap_err();
        assert!(
            e.contains("\"centos\"") && e.contains("debian-12, debian-12-large, ubuntu-24.04"),
            "{e}"
        );
    }

    #[test]
    fn a_deployment_s_servers_are_its_prefix_and_a_dash() {
        assert!(of_deployment("wr-prod-a-0f3c", "wr-prod-a"));
        assert!(!of_deployment("wr-prod-ab-0f3c", "wr-prod-a"));
        assert!(!of_deployment("wr-prod-a", "wr-prod-a"));
        assert!(!of_deployment("other-wr-prod-a-1", "wr-prod-a"));
    }

    #[test]
    fn host_names_follow_the_rule() {
        assert_eq!(
            host_name("wr-prod-John.Smith__x-ABC"),
            "wr-prod-john-smith-x-abc"
        );
        assert_eq!(host_name(&"a".repeat(80)).len(), 63);
    }
}
