//! The docker provider, "a cloud on this host": a server is a container running sshd (booted
//! from an image `bin/wr-node-image.sh` builds) on the deployment's own Docker network; its
//! flavor sets the container's CPU and memory limits. Flavors and the quota come from a small
//! YAML file (`WR_DOCKER_CLOUD`), the cloud API is the engine's (the head node gets the
//! engine's socket, so the manager on it spawns workers as the OpenStack one calls Nova).
//!
//! What maps to what:
//! - keypair: the public key kept in the resource file, installed by the node's init for the
//!   login user (`WR_USER`) as cloud-init would;
//! - security group: none (a Docker network does not filter);
//! - network, subnet, router: one Docker network named by the prefix, with the CIDR and
//!   gateway asked for (its containers resolve each other by name through Docker's DNS);
//! - floating IP: the container's address, which this host reaches directly;
//! - quota: the file's maxima against every wr-cloud server on this engine; "no valid host"
//!   when a flavor is larger than this host.

use crate::cloud::{Flavor, Limit, Quota};
use crate::provider::{
    Image, Instance, NetworkPlan, Provider, ProviderError, Removed, Resources, Result, SpawnSpec,
};
use base64::Engine as _;
use bollard::models::{ContainerCreateBody, HostConfig, Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::{CreateContainerOptionsBuilder, ListImagesOptionsBuilder};
use container::engine::{Engine, EngineError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Labels on what the provider makes.
const PREFIX_LABEL: &str = "org.wr-cloud.prefix";
const SERVER_LABEL: &str = "org.wr-cloud.server";
const FLAVOR_LABEL: &str = "org.wr-cloud.flavor";

/// A flavor of the file (its name is its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlavorDef {
    pub name: String,
    pub vcpus: u64,
    /// MB.
    pub ram: u64,
    /// GB (not enforced: containers share the host's disk).
    #[serde(default)]
    pub disk: u64,
}

/// The quota of the file: absent or 0 is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaDef {
    pub instances: u64,
    pub cores: u64,
    /// MB.
    pub ram: u64,
}

/// The docker provider's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerCloudConfig {
    pub flavors: Vec<FlavorDef>,
    #[serde(default)]
    pub quota: QuotaDef,
}

impl Default for DockerCloudConfig {
    /// Three sizes and no quota.
    fn default() -> Self {
        let f = |name: &str, vcpus, ram, disk| FlavorDef {
            name: name.into(),
            vcpus,
            ram,
            disk,
        };
        DockerCloudConfig {
            flavors: vec![
                f("d1.small", 1, 1024, 10),
                f("d1.medium", 2, 2048, 20),
                f("d1.large", 4, 4096, 40),
            ],
            quota: QuotaDef::default(),
        }
    }
}

/// The variable naming the file.
pub const CONFIG_VAR: &str = "WR_DOCKER_CLOUD";

impl DockerCloudConfig {
    pub fn read(path: &Path) -> Result<DockerCloudConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ProviderError::Setup(format!("reading {} ({CONFIG_VAR}): {e}", path.display()))
        })?;
        let c: DockerCloudConfig = serde_yaml::from_str(&text).map_err(|e| {
            ProviderError::Setup(format!(
                "{} ({CONFIG_VAR}): {e} (expected `flavors:` [{{name, vcpus, ram, disk}}] and \
                 an optional `quota:` {{instances, cores, ram}})",
                path.display()
            ))
        })?;
        if c.flavors.is_empty() {
            return Err(ProviderError::Setup(format!(
                "{} ({CONFIG_VAR}): `flavors` lists no flavor",
                path.display()
            )));
        }
        for f in &c.flavors {
            if f.vcpus == 0 || f.ram == 0 {
                return Err(ProviderError::Setup(format!(
                    "{} ({CONFIG_VAR}): flavor {}: vcpus and ram must be above 0",
                    path.display(),
                    f.name
                )));
            }
        }
        Ok(c)
    }

    /// As the file has it.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("the config serializes")
    }

    /// The file `WR_DOCKER_CLOUD` names, else the defaults.
    pub fn from_env() -> Result<DockerCloudConfig> {
        match std::env::var_os(CONFIG_VAR).filter(|v| !v.is_empty()) {
            Some(p) => DockerCloudConfig::read(Path::new(&p)),
            None => Ok(DockerCloudConfig::default()),
        }
    }
}

pub struct DockerCloud {
    config: DockerCloudConfig,
    /// Its own runtime: provider calls block, and bollard's connections live on it.
    rt: Option<tokio::runtime::Runtime>,
    engine: Engine,
    /// This host's size, for "no valid host".
    host_cpus: u64,
    host_ram: u64,
}

impl Drop for DockerCloud {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Dropped from async code too (the manager's), where a blocking shutdown panics.
            rt.shutdown_background();
        }
    }
}

fn engine_err(e: EngineError) -> ProviderError {
    match e {
        EngineError::Unreachable(_) => ProviderError::Setup(e.to_string()),
        other => ProviderError::Other(other.to_string()),
    }
}

fn bollard_err(what: &str, e: bollard::errors::Error) -> ProviderError {
    ProviderError::Other(format!("{what}: {}", engine_err(e.into())))
}

fn is_404(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The unix socket the engine listens on, to hand to the head node.
fn engine_socket() -> Option<String> {
    match std::env::var("DOCKER_HOST") {
        Ok(h) => h.strip_prefix("unix://").map(str::to_string),
        Err(_) => Some("/var/run/docker.sock".into()),
    }
}

impl DockerCloud {
    pub fn new(config: DockerCloudConfig) -> Result<DockerCloud> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| ProviderError::Other(format!("starting a runtime: {e}")))?;
        let engine = rt
            .block_on(Engine::connect(Duration::from_secs(10)))
            .map_err(engine_err)?;
        // The engine's host, not this process's (the manager runs in a container of its own).
        let info = rt
            .block_on(engine.docker().info())
            .map_err(|e| bollard_err("asking the engine about its host", e))?;
        Ok(DockerCloud {
            config,
            rt: Some(rt),
            engine,
            host_cpus: info.ncpu.map_or(1, |n| n.max(1) as u64),
            host_ram: info
                .mem_total
                .map_or(u64::MAX, |b| b.max(0) as u64 / (1024 * 1024)),
        })
    }

    pub fn from_env() -> Result<DockerCloud> {
        DockerCloud::new(DockerCloudConfig::from_env()?)
    }

    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt
            .as_ref()
            .expect("the runtime lives as long as self")
            .block_on(f)
    }

    fn flavor(&self, name: &str) -> Option<&FlavorDef> {
        self.config.flavors.iter().find(|f| f.name == name)
    }

    fn instance_of(&self, c: &bollard::models::ContainerInspectResponse) -> Instance {
        let labels = c
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let ip = c
            .network_settings
            .as_ref()
            .and_then(|s| s.networks.as_ref())
            .and_then(|n| n.values().find_map(|e| e.ip_address.clone()))
            .filter(|ip| !ip.is_empty());
        let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        Instance {
            id: c.id.clone().unwrap_or_default(),
            name: c
                .name
                .clone()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            status: if running { "ACTIVE" } else { "SHUTOFF" }.into(),
            flavor: labels.get(FLAVOR_LABEL).cloned().unwrap_or_default(),
            public_ip: ip.clone(),
            ip,
        }
    }

    /// The wr-cloud servers on this engine, of every deployment.
    fn all_servers(&self) -> Result<Vec<bollard::models::ContainerSummary>> {
        self.block(self.engine.list(&[(SERVER_LABEL, "1")]))
            .map_err(engine_err)
    }

    /// Refuses a spawn the quota or this host cannot take, in Nova's words.
    fn admit(&self, flavor: &Flavor) -> Result<()> {
        if flavor.vcpus > self.host_cpus || flavor.ram > self.host_ram {
            return Err(ProviderError::Refused(format!(
                "No valid host was found: flavor {} wants {} vCPUs and {} MB; this host has {} \
                 and {} MB",
                flavor.name, flavor.vcpus, flavor.ram, self.host_cpus, self.host_ram
            )));
        }
        let q = self.quota()?;
        for (what, limit, more) in [
            ("instances", q.instances, 1),
            ("cores", q.cores, flavor.vcpus),
            ("ram", q.ram, flavor.ram),
        ] {
            if let Some(max) = limit.max {
                if limit.used + more > max {
                    return Err(ProviderError::Refused(format!(
                        "Quota exceeded for {what}: requested {more}, but already used {} of {max} {what}",
                        limit.used
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Provider for DockerCloud {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn flavors(&self) -> Result<Vec<Flavor>> {
        Ok(self
            .config
            .flavors
            .iter()
            .map(|f| Flavor {
                id: f.name.clone(),
                name: f.name.clone(),
                vcpus: f.vcpus,
                ram: f.ram,
                disk: f.disk,
            })
            .collect())
    }

    fn images(&self) -> Result<Vec<Image>> {
        let list = self
            .block(
                self.engine
                    .docker()
                    .list_images(Some(ListImagesOptionsBuilder::default().build())),
            )
            .map_err(|e| bollard_err("listing images", e))?;
        let mut out = Vec::new();
        for i in list {
            for tag in i.repo_tags.iter().filter(|t| !t.starts_with("<none>")) {
                out.push(Image {
                    id: i.id.clone(),
                    name: tag.clone(),
                    min_disk: 0,
                    min_ram: 0,
                });
            }
        }
        Ok(out)
    }

    fn quota(&self) -> Result<Quota> {
        let (mut n, mut cores, mut ram) = (0, 0, 0);
        for c in self.all_servers()? {
            let labels = c.labels.unwrap_or_default();
            n += 1;
            if let Some(f) = labels.get(FLAVOR_LABEL).and_then(|f| self.flavor(f)) {
                cores += f.vcpus;
                ram += f.ram;
            }
        }
        let q = self.config.quota;
        let limit = |max: u64, used| Limit::new(max as i64, used);
        Ok(Quota {
            instances: limit(q.instances, n),
            cores: limit(q.cores, cores),
            ram: limit(q.ram, ram),
        })
    }

    fn prepare(
        &self,
        res: &mut Resources,
        public_key: &str,
        _ports: &[u16],
        net: Option<&NetworkPlan>,
    ) -> Result<()> {
        res.keypair = Some(res.prefix.clone());
        res.public_key = Some(public_key.trim().to_string());
        let Some(net) = net else { return Ok(()) };
        let docker = self.engine.docker();
        let prefix = res.prefix.clone();
        match self.block(docker.inspect_network(&prefix, None)) {
            Ok(n) => {
                res.network = n.id;
                return Ok(());
            }
            Err(e) if is_404(&e) => {}
            Err(e) => return Err(bollard_err("looking for the network", e)),
        }
        let req = NetworkCreateRequest {
            name: prefix.clone(),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(net.cidr.clone()),
                    gateway: Some(net.gateway.clone()).filter(|g| !g.is_empty()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(HashMap::from([(PREFIX_LABEL.to_string(), prefix.clone())])),
            ..Default::default()
        };
        let made = self
            .block(docker.create_network(req))
            .map_err(|e| bollard_err(&format!("creating network {prefix} ({})", net.cidr), e))?;
        res.network = Some(made.id);
        res.made_network = true;
        Ok(())
    }

    fn spawn(&self, res: &Resources, spec: &SpawnSpec) -> Result<Instance> {
        let network = res.network.clone().ok_or_else(|| {
            ProviderError::Other(format!("deployment {} has no network yet", res.prefix))
        })?;
        self.admit(&spec.flavor)?;
        let f = &spec.flavor;
        let labels = HashMap::from([
            (PREFIX_LABEL.to_string(), res.prefix.clone()),
            (SERVER_LABEL.to_string(), "1".to_string()),
            (FLAVOR_LABEL.to_string(), f.name.clone()),
        ]);
        let env = vec![
            format!(
                "WR_USER={}",
                [spec.user.as_str(), res.user.as_str()]
                    .into_iter()
                    .find(|u| !u.is_empty())
                    .unwrap_or("root")
            ),
            format!(
                "WR_AUTHORIZED_KEY={}",
                res.public_key.clone().unwrap_or_default()
            ),
            format!(
                "WR_USER_DATA={}",
                base64::engine::general_purpose::STANDARD.encode(&spec.user_data)
            ),
        ];
        // The head node runs the manager, which spawns workers through this engine.
        let binds = spec
            .external_ip
            .then(engine_socket)
            .flatten()
            .map(|s| vec![format!("{s}:/var/run/docker.sock")]);
        let body = ContainerCreateBody {
            image: Some(spec.image.id.clone()),
            env: Some(env),
            labels: Some(labels),
            hostname: Some(crate::provider::host_name(&spec.name)),
            host_config: Some(HostConfig {
                network_mode: Some(network),
                nano_cpus: Some((f.vcpus * 1_000_000_000) as i64),
                memory: Some((f.ram * 1024 * 1024) as i64),
                init: Some(true),
                binds,
                ..Default::default()
            }),
            ..Default::default()
        };
        let docker = self.engine.docker();
        let opts = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let made = self
            .block(docker.create_container(Some(opts), body))
            .map_err(|e| bollard_err(&format!("creating server {}", spec.name), e))?;
        let started = self
            .block(docker.start_container(&made.id, None))
            .map_err(|e| bollard_err(&format!("starting server {}", spec.name), e))
            .and_then(|()| self.instance(&made.id))
            .and_then(|i| {
                i.filter(|i| i.status == "ACTIVE" && i.ip.is_some())
                    .ok_or_else(|| {
                        ProviderError::Refused(format!(
                            "server {} stopped as it started",
                            spec.name
                        ))
                    })
            });
        if started.is_err() {
            let _ = self.destroy(&made.id);
        }
        started
    }

    fn instance(&self, id: &str) -> Result<Option<Instance>> {
        match self.block(self.engine.docker().inspect_container(id, None)) {
            Ok(c) => Ok(Some(self.instance_of(&c))),
            Err(e) if is_404(&e) => Ok(None),
            Err(e) => Err(bollard_err(&format!("looking at server {id}"), e)),
        }
    }

    fn instances(&self, prefix: &str) -> Result<Vec<Instance>> {
        let mut out = Vec::new();
        for c in self.all_servers()? {
            let named = c
                .names
                .iter()
                .flatten()
                .any(|n| crate::provider::of_deployment(n.trim_start_matches('/'), prefix));
            if let (true, Some(id)) = (named, c.id) {
                if let Some(i) = self.instance(&id)? {
                    out.push(i);
                }
            }
        }
        Ok(out)
    }

    fn destroy(&self, id: &str) -> Result<bool> {
        if self.instance(id)?.is_none() {
            return Ok(false);
        }
        self.block(self.engine.remove(id)).map_err(engine_err)?;
        Ok(true)
    }

    fn teardown(&self, prefix: &str) -> Removed {
        let mut out = Removed::default();
        match self.instances(prefix) {
            Ok(servers) => {
                for i in servers {
                    out.note(format!("server {} ({})", i.name, i.id), self.destroy(&i.id));
                }
            }
            Err(e) => out.errors.push(format!("listing servers: {e}")),
        }
        let docker = self.engine.docker();
        let r = match self.block(docker.remove_network(prefix)) {
            Ok(()) => Ok(true),
            Err(e) if is_404(&e) => Ok(false),
            Err(e) => Err(bollard_err("removing the network", e)),
        };
        out.note(format!("network {prefix}"), r);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_read_strictly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cloud.yml");
        std::fs::write(
            &p,
            "flavors:\n  - {name: s, vcpus: 1, ram: 512}\nquota: {instances: 3}\n",
        )
        .unwrap();
        let c = DockerCloudConfig::read(&p).unwrap();
        assert_eq!(
            (c.flavors[0].disk, c.quota.instances, c.quota.cores),
            (0, 3, 0)
        );
        std::fs::write(
            &p,
            "flavors:\n  - {name: s, vcpus: 1, ram: 512}\nquotas: {}\n",
        )
        .unwrap();
        let e = DockerCloudConfig::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("cloud.yml") && e.contains("unknown field `quotas`"),
            "{e}"
        );
        std::fs::write(&p, "flavors: []\n").unwrap();
        let e = DockerCloudConfig::read(&p).unwrap_err().to_string();
        assert!(e.contains("lists no flavor"), "{e}");
    }
}
