//! The Docker Engine client, over its HTTP API (bollard), never the docker CLI.
//!
//! It connects where the docker CLI would (`DOCKER_HOST`, else `/var/run/docker.sock`), gives
//! up within the connect timeout when no engine answers, and negotiates the API version down
//! to what the engine speaks (1.41 for Debian's docker.io).

use crate::spec::{ContainerSpec, EngineHealthcheck, Network};
use bollard::models::{
    ContainerCreateBody, ContainerSummary, DeviceMapping, EndpointSettings, HealthConfig,
    HostConfig, HostConfigLogConfig, Mount, MountType, NetworkingConfig, PortBinding,
    ResourcesUlimits,
};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::Path;

pub use bollard::container::{AttachContainerResults, LogOutput};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "no Docker engine answers at {0}; is dockerd running? (set DOCKER_HOST to use another)"
    )]
    Unreachable(String),
    #[error("the image {0} is not on this machine; pull it (--pull) or build it (--build)")]
    NoImage(String),
    #[error("{0}")]
    Api(String),
}

impl From<bollard::errors::Error> for EngineError {
    fn from(e: bollard::errors::Error) -> Self {
        EngineError::Api(describe(&e))
    }
}

/// The engine's own message where it gave one, rather than bollard's wrapping.
fn describe(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => format!("the Docker engine answered {status_code}: {message}"),
        other => other.to_string(),
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

pub struct Engine {
    docker: Docker,
}

/// Where the engine is expected, for messages.
pub fn engine_address() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

impl Engine {
    /// Connects and negotiates the API version; `Unreachable` within `timeout` when no engine answers.
    pub async fn connect(timeout: Duration) -> Result<Engine> {
        let address = engine_address();
        let docker = Docker::connect_with_defaults()
            .map_err(|_| EngineError::Unreachable(address.clone()))?;
        let negotiated = tokio::time::timeout(timeout, docker.negotiate_version()).await;
        match negotiated {
            Ok(Ok(docker)) => Ok(Engine { docker }),
            Ok(Err(_)) | Err(_) => Err(EngineError::Unreachable(address)),
        }
    }

    pub fn api_version(&self) -> String {
        let v = self.docker.client_version();
        format!("{}.{}", v.major_version, v.minor_version)
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub async fn image_exists(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Pulls `image`, reporting progress lines through `progress`; fails after `timeout` so an
    /// unreachable registry is an error, not a hang.
    pub async fn pull(
        &self,
        image: &str,
        timeout: Duration,
        mut progress: impl FnMut(&str),
    ) -> Result<()> {
        let (repo, tag) = split_tag(image);
        let opts = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let work = async {
            let mut stream = self.docker.create_image(Some(opts), None, None);
            while let Some(item) = stream.next().await {
                let info = item
                    .map_err(|e| EngineError::Api(format!("pulling {image}: {}", describe(&e))))?;
                if let Some(status) = info.status {
                    progress(&format!(
                        "{status}{}",
                        info.id.map(|i| format!(" {i}")).unwrap_or_default()
                    ));
                }
            }
            Ok(())
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(EngineError::Api(format!(
                    "pulling {image}: no answer from the registry within {} s",
                    timeout.as_secs()
                )))
            })
    }

    /// Imports a root file system tarball as `image` (what `docker import` does).
    pub async fn import_rootfs(&self, tar: Vec<u8>, image: &str) -> Result<()> {
        let (repo, tag) = split_tag(image);
        let opts = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .build();
        let mut stream =
            self.docker
                .create_image(Some(opts), Some(bollard::body_full(tar.into())), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| EngineError::Api(format!("importing {image}: {}", describe(&e))))?;
        }
        Ok(())
    }

    /// Builds the Dockerfile of a tar build context into `image`, reporting the build's output.
    pub async fn build(
        &self,
        context_tar: Vec<u8>,
        image: &str,
        mut progress: impl FnMut(&str),
    ) -> Result<()> {
        let opts = bollard::query_parameters::BuildImageOptionsBuilder::default()
            .t(image)
            .rm(true)
            .forcerm(true)
            .build();
        let mut stream =
            self.docker
                .build_image(opts, None, Some(bollard::body_full(context_tar.into())));
        while let Some(item) = stream.next().await {
            let info =
                item.map_err(|e| EngineError::Api(format!("building {image}: {}", describe(&e))))?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(EngineError::Api(format!("building {image}: {detail}")));
            }
            if let Some(line) = info.stream {
                let line = line.trim_end();
                if !line.is_empty() {
                    progress(line);
                }
            }
        }
        Ok(())
    }

    pub async fn create(&self, spec: &ContainerSpec) -> Result<String> {
        let opts = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let response = self
            .docker
            .create_container(Some(opts), create_body(spec))
            .await
            .map_err(|e| match &e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => EngineError::NoImage(spec.image.clone()),
                _ => EngineError::Api(format!(
                    "creating container {}: {}",
                    spec.name,
                    describe(&e)
                )),
            })?;
        Ok(response.id)
    }

    pub async fn start(&self, id: &str) -> Result<()> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(Into::into)
    }

    /// Attaches to the container's streams (before start, so no output is missed).
    pub async fn attach(&self, id: &str, stdin: bool) -> Result<AttachContainerResults> {
        let opts = AttachContainerOptionsBuilder::default()
            .stdin(stdin)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .build();
        self.docker
            .attach_container(id, Some(opts))
            .await
            .map_err(Into::into)
    }

    /// Waits for the container to stop; its exit code.
    pub async fn wait(&self, id: &str) -> Result<i64> {
        let opts = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut stream = self.docker.wait_container(id, Some(opts));
        match stream.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            // bollard turns a non-zero exit into an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(e.into()),
            None => Err(EngineError::Api(format!(
                "waiting for container {id}: the engine closed the stream"
            ))),
        }
    }

    pub async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        let opts = StopContainerOptionsBuilder::default()
            .t(grace.as_secs() as i32)
            .build();
        match self.docker.stop_container(id, Some(opts)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the container (and its anonymous volumes), whatever its state.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        use bollard::errors::Error::DockerResponseServerError;
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(())
            | Err(DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // Someone else is removing it (a teardown beside a manager's own clean stop):
            // done once it is gone, which takes the engine a moment.
            Err(e)
                if matches!(&e, DockerResponseServerError { status_code: 409, message }
                    if message.contains("already in progress")) =>
            {
                for _ in 0..240 {
                    match self.docker.inspect_container(id, None).await {
                        Err(DockerResponseServerError {
                            status_code: 404, ..
                        }) => return Ok(()),
                        _ => tokio::time::sleep(Duration::from_millis(250)).await,
                    }
                }
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Containers carrying every `key=value` label, stopped ones included.
    pub async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerSummary>> {
        let filter: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let filters: HashMap<&str, Vec<String>> = HashMap::from([("label", filter)]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.docker
            .list_containers(Some(opts))
            .await
            .map_err(Into::into)
    }

    pub async fn inspect(&self, id: &str) -> Result<bollard::models::ContainerInspectResponse> {
        self.docker
            .inspect_container(id, None)
            .await
            .map_err(Into::into)
    }

    /// The container's address on the default bridge network, once it runs.
    pub async fn address(&self, id: &str) -> Result<Option<String>> {
        let c = self.inspect(id).await?;
        let settings = c.network_settings;
        let from_networks = settings
            .as_ref()
            .and_then(|s| s.networks.as_ref())
            .and_then(|n| n.values().find_map(|e| e.ip_address.clone()))
            .filter(|ip| !ip.is_empty());
        Ok(from_networks)
    }

    /// The last `lines` lines the container wrote (stdout and stderr interleaved).
    pub async fn logs_tail(&self, id: &str, lines: usize) -> Result<Vec<String>> {
        lines_of(self.docker.logs(id, Some(tail_options(lines)))).await
    }

    /// The last `lines` lines a swarm task wrote, wherever it ran (asked of a manager).
    pub async fn task_logs_tail(&self, task_id: &str, lines: usize) -> Result<Vec<String>> {
        lines_of(self.docker.task_logs(task_id, Some(tail_options(lines)))).await
    }

    /// Runs `cmd` inside the running container; its exit code.
    pub async fn exec(&self, id: &str, cmd: Vec<String>) -> Result<i64> {
        let exec = self
            .docker
            .create_exec(
                id,
                bollard::models::ExecConfig {
                    cmd: Some(cmd),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        if let bollard::exec::StartExecResults::Attached { mut output, .. } =
            self.docker.start_exec(&exec.id, None).await?
        {
            while output.next().await.is_some() {}
        }
        let inspected = self.docker.inspect_exec(&exec.id).await?;
        Ok(inspected.exit_code.unwrap_or(-1))
    }
}

/// Copies an attached container's output to our stdout and stderr as it comes, until the
/// container closes it. A stdout whose reader left (a closed pipe) is not an error.
pub async fn copy_output(output: &mut AttachedOutput) -> std::io::Result<()> {
    use std::io::Write;
    while let Some(item) = output.next().await {
        let Ok(item) = item else { break };
        let written = match item {
            LogOutput::StdErr { message } => {
                let mut e = std::io::stderr().lock();
                // A failing stderr cannot be reported anywhere.
                let _ = e.write_all(&message).and_then(|_| e.flush());
                Ok(())
            }
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                let mut o = std::io::stdout().lock();
                o.write_all(&message).and_then(|_| o.flush())
            }
            LogOutput::StdIn { .. } => Ok(()),
        };
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    Ok(())
}

/// The output half of an attached container.
pub type AttachedOutput = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
>;

/// A directory with a Dockerfile as a tar build context (symlinks kept as links).
pub fn build_context(dir: &Path) -> Result<Vec<u8>> {
    if !dir.join("Dockerfile").exists() {
        return Err(EngineError::Api(format!(
            "building needs a Dockerfile in {}",
            dir.display()
        )));
    }
    let pack = || -> std::io::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        builder.append_dir_all(".", dir)?;
        builder.into_inner()
    };
    pack()
        .map_err(|e| EngineError::Api(format!("packing {} as a build context: {e}", dir.display())))
}

fn split_tag(image: &str) -> (&str, &str) {
    // A ':' after the last '/' separates the tag (a registry's port comes before a '/').
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, "latest"),
    }
}

fn tail_options(lines: usize) -> bollard::query_parameters::LogsOptions {
    LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build()
}

async fn lines_of(
    mut stream: impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
) -> Result<Vec<String>> {
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend_from_slice(&chunk?.into_bytes());
    }
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .map(str::to_string)
        .collect())
}

impl EngineHealthcheck {
    /// As the Engine API takes it, for a container or a swarm service's task.
    pub fn to_api(&self) -> HealthConfig {
        HealthConfig {
            test: Some(self.test.clone()),
            interval: Some(self.interval.as_nanos() as i64),
            timeout: Some(self.timeout.as_nanos() as i64),
            start_period: Some(self.start_period.as_nanos() as i64),
            retries: Some(i64::from(self.retries)),
            start_interval: None,
        }
    }
}

/// The Engine API body for a spec: never privileged, no restart policy. extra_docker_args
/// (already parsed into `spec.options`) go where `docker run` would put them: what they add is
/// added after ours (capabilities, env, labels), what they set replaces ours (init).
pub fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let o = &spec.options;
    let port_key = format!("{}/tcp", spec.container_port);
    let port_bindings = spec.publish.map(|p| {
        HashMap::from([(
            port_key.clone(),
            Some(vec![PortBinding {
                host_ip: Some("0.0.0.0".into()),
                // 0: an ephemeral port the engine picks.
                host_port: (p != 0).then(|| p.to_string()),
            }]),
        )])
    });
    let some_vec = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let some_map = |v: &[(String, String)]| {
        (!v.is_empty()).then(|| v.iter().cloned().collect::<HashMap<_, _>>())
    };
    let cap_add: Vec<String> = spec.cap_add.iter().chain(&o.cap_add).cloned().collect();
    let cap_drop: Vec<String> = spec
        .cap_drop
        .iter()
        .filter(|c| !o.cap_add.contains(c))
        .chain(&o.cap_drop)
        .cloned()
        .collect();
    let network_mode = match (&o.network, spec.network) {
        (_, Network::Host) => "host".to_string(),
        (Some(user_defined), Network::Bridge) => user_defined.clone(),
        (None, Network::Bridge) => "bridge".to_string(),
    };
    let host_config = HostConfig {
        memory: Some((spec.memory_mb * 1024 * 1024) as i64),
        memory_swap: Some((spec.memory_swap_mb * 1024 * 1024) as i64),
        memory_reservation: o.memory_reservation,
        cpu_period: Some(spec.cpu_period as i64),
        cpu_quota: Some(spec.cpu_quota as i64),
        cpuset_cpus: o.cpuset_cpus.clone(),
        pids_limit: o.pids_limit,
        cap_add: some_vec(cap_add),
        cap_drop: Some(cap_drop),
        init: Some(o.init.unwrap_or(spec.init)),
        privileged: Some(false),
        network_mode: Some(network_mode.clone()),
        port_bindings,
        binds: Some(
            spec.volumes
                .iter()
                .map(|m| format!("{}:{}:{}", m.host, m.container, m.mode))
                .collect(),
        ),
        shm_size: o.shm_size,
        ulimits: (!o.ulimits.is_empty()).then(|| {
            o.ulimits
                .iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect()
        }),
        sysctls: some_map(&o.sysctls),
        devices: (!o.devices.is_empty()).then(|| {
            o.devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some(d.host.clone()),
                    path_in_container: Some(d.container.clone()),
                    cgroup_permissions: Some(d.permissions.clone()),
                })
                .collect()
        }),
        dns: some_vec(o.dns.clone()),
        dns_search: some_vec(o.dns_search.clone()),
        extra_hosts: some_vec(o.extra_hosts.clone()),
        tmpfs: some_map(&o.tmpfs),
        mounts: (!o.mounts.is_empty()).then(|| {
            o.mounts
                .iter()
                .map(|m| Mount {
                    target: Some(m.target.clone()),
                    source: m.source.clone(),
                    typ: Some(match m.kind.as_str() {
                        "bind" => MountType::BIND,
                        "tmpfs" => MountType::TMPFS,
                        _ => MountType::VOLUME,
                    }),
                    read_only: Some(m.read_only),
                    ..Default::default()
                })
                .collect()
        }),
        readonly_rootfs: o.read_only,
        security_opt: some_vec(o.security_opt.clone()),
        oom_kill_disable: o.oom_kill_disable,
        log_config: o.log_driver.is_some().then(|| HostConfigLogConfig {
            typ: o.log_driver.clone(),
            config: some_map(&o.log_opts),
        }),
        ..Default::default()
    };
    let env = spec
        .env
        .iter()
        .chain(&o.env)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let labels = spec.labels.iter().chain(&o.labels).cloned().collect();
    let networking_config = (!o.network_aliases.is_empty()).then(|| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            network_mode,
            EndpointSettings {
                aliases: Some(o.network_aliases.clone()),
                ..Default::default()
            },
        )])),
    });
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
        env: Some(env),
        labels: Some(labels),
        hostname: o.hostname.clone(),
        user: o.user.clone(),
        working_dir: o.workdir.clone(),
        exposed_ports: spec.publish.map(|_| vec![port_key.clone()]),
        tty: Some(spec.tty),
        open_stdin: Some(spec.interactive),
        stdin_once: Some(spec.interactive),
        attach_stdin: Some(spec.interactive),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(host_config),
        networking_config,
        healthcheck: spec.healthcheck.as_ref().map(EngineHealthcheck::to_api),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(
            split_tag("localhost:5000/services-x:paasta-abc"),
            ("localhost:5000/services-x", "paasta-abc")
        );
        assert_eq!(
            split_tag("localhost:5000/services-x"),
            ("localhost:5000/services-x", "latest")
        );
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
    }
}
