//! An instance config turned into the container a deployment would run: resources, labels,
//! capabilities, environment, network, published port and volumes (docs/paasta.md §3, §9).
//! local-run, setup-service and rerun all build their containers here, so the three launch the
//! same container for the same instance.

use soa::service::Volume;
use soa::InstanceConfig;
use std::path::Path;

pub use soa::instance::Net as Network;
pub use soa::marathon::CAP_DROP;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mount {
    pub host: String,
    pub container: String,
    /// "ro" or "rw".
    pub mode: String,
}

/// Everything needed to create the container, with env values (argv carries only names).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// The command after the image; empty runs the image's own.
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub memory_mb: u64,
    pub memory_swap_mb: u64,
    pub cpu_period: u64,
    pub cpu_quota: u64,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub init: bool,
    pub network: Network,
    /// The port the service listens on inside the container (`container_port`).
    pub container_port: u16,
    /// Host port published to `container_port` (bridge networking only).
    pub publish: Option<u16>,
    pub volumes: Vec<Mount>,
    /// The docker parameters as soa::marathon computes them for the app definition (resources,
    /// labels, extra_docker_args, cap-add, init, cap-drops, in PaaSTA's order); the argv passes
    /// each as `--<key>=<value>`.
    pub parameters: Vec<(String, String)>,
    /// extra_docker_args as the Engine API takes them.
    pub options: soa::docker_args::DockerOptions,
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
    /// A health check the engine itself runs inside the container (setup-service's tasks);
    /// local-run probes from outside instead and leaves it None.
    pub healthcheck: Option<EngineHealthcheck>,
}

/// The engine's own health check: a command run inside the container every `interval`;
/// `retries` consecutive failures after `start_period` make it unhealthy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EngineHealthcheck {
    pub test: Vec<String>,
    pub interval: std::time::Duration,
    pub timeout: std::time::Duration,
    pub start_period: std::time::Duration,
    pub retries: u32,
}

/// A volume that cannot be mounted (relative path, bad mode), named where it was written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SpecError(pub soa::Problem);

/// What a caller knows beyond the instance config.
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    pub name: String,
    /// The image reference, registry included.
    pub image: String,
    pub command: Vec<String>,
    /// The system config's `volumes`.
    pub system_volumes: Vec<Volume>,
    /// Env added after PAASTA_* and before the user's env (e.g. local-run's simulated MESOS_*).
    pub extra_env: Vec<(String, String)>,
    pub publish: Option<u16>,
    pub interactive: bool,
    pub tty: bool,
    pub detach: bool,
}

/// Formats a resource as Python's `str()` does for YAML numbers: `1024`, `0.25`.
pub fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        soa::pyjson::float_repr(n)
    }
}

/// The environment Chronos gives a job's task.
pub fn chronos_env(
    config: &InstanceConfig,
    job: &str,
    owner: &str,
    run_time: i64,
    attempt: u32,
) -> Vec<(String, String)> {
    vec![
        ("CHRONOS_RESOURCE_DISK".into(), number_text(config.disk)),
        ("CHRONOS_RESOURCE_CPU".into(), number_text(config.cpus)),
        ("CHRONOS_RESOURCE_MEM".into(), number_text(config.mem)),
        ("CHRONOS_JOB_OWNER".into(), owner.to_string()),
        ("CHRONOS_JOB_RUN_TIME".into(), run_time.to_string()),
        ("CHRONOS_JOB_NAME".into(), job.to_string()),
        ("CHRONOS_JOB_RUN_ATTEMPT".into(), attempt.to_string()),
    ]
}

/// The container of `config`; the warnings say which volumes were skipped (a host path that
/// does not exist here).
pub fn build(
    config: &InstanceConfig,
    opts: SpecOptions,
) -> Result<(ContainerSpec, Vec<String>), SpecError> {
    let limits = soa::marathon::limits(config);
    let mut env = soa::marathon::paasta_env(config, &opts.image);
    env.extend(opts.extra_env);
    soa::marathon::apply_user_env(&mut env, config);
    // The parameter list setup-service hashes (the argv prints it); the Engine API takes the
    // same things as typed fields: cap_add here, extra_docker_args in `options`.
    let parameters = soa::marathon::docker_parameters(config);
    let cap_add = config.cap_add.clone();
    let (volumes, warnings) = mounts(config, &opts.system_volumes)?;
    let network = config.net;
    let spec = ContainerSpec {
        name: opts.name,
        image: opts.image,
        command: opts.command,
        env,
        labels: vec![
            ("paasta_service".into(), config.service.clone()),
            ("paasta_instance".into(), config.instance.clone()),
        ],
        memory_mb: limits.memory_mb,
        memory_swap_mb: limits.memory_swap_mb,
        cpu_period: limits.cpu_period,
        cpu_quota: limits.cpu_quota,
        cap_add,
        cap_drop: CAP_DROP.iter().map(|c| c.to_string()).collect(),
        init: true,
        network,
        container_port: config.container_port,
        publish: if network == Network::Bridge {
            opts.publish
        } else {
            None
        },
        volumes,
        parameters,
        options: config.docker_options.clone(),
        interactive: opts.interactive,
        tty: opts.tty,
        detach: opts.detach,
        healthcheck: None,
    };
    Ok((spec, warnings))
}

/// The volumes of soa::marathon::volumes that can be mounted here: a host path that does not
/// exist is skipped with a warning (Docker would create an empty root-owned directory).
fn mounts(
    config: &InstanceConfig,
    system: &[Volume],
) -> Result<(Vec<Mount>, Vec<String>), SpecError> {
    let mut mounts = Vec::new();
    let mut warnings = Vec::new();
    for v in soa::marathon::volumes(config, system).map_err(SpecError)? {
        if !Path::new(&v.host_path).exists() {
            warnings.push(format!(
                "skipping volume {}:{}: the host path {} does not exist",
                v.host_path, v.container_path, v.host_path
            ));
            continue;
        }
        mounts.push(Mount {
            host: v.host_path,
            container: v.container_path,
            mode: v.mode.to_lowercase(),
        });
    }
    Ok((mounts, warnings))
}

impl ContainerSpec {
    /// The `docker run` command line that makes the same container, as PaaSTA's local-run
    /// prints it: env names only (their values travel in the environment), then resources,
    /// labels, extra args, capabilities, network, name, volumes, mode, image and command.
    pub fn docker_run_argv(&self) -> Vec<String> {
        let mut argv = vec!["docker".to_string(), "run".into()];
        for (k, _) in &self.env {
            argv.push("--env".into());
            argv.push(k.clone());
        }
        argv.push(format!("--memory={}m", self.memory_mb));
        argv.extend(
            self.docker_parameters()
                .iter()
                .map(|(k, v)| format!("--{k}={v}")),
        );
        match self.network {
            Network::Host => argv.push("--net=host".into()),
            Network::Bridge => {
                if let Some(port) = self.publish {
                    argv.push(format!("--publish={port}:{}", self.container_port));
                }
            }
        }
        argv.push(format!("--name={}", self.name));
        for m in &self.volumes {
            argv.push(format!("--volume={}:{}:{}", m.host, m.container, m.mode));
        }
        if self.interactive {
            argv.push("--interactive=true".into());
            if self.tty {
                argv.push("--tty=true".into());
            }
        } else if self.detach {
            argv.push("--detach=true".into());
        }
        argv.push(self.image.clone());
        argv.extend(self.command.iter().cloned());
        argv
    }

    /// The Marathon-style docker parameters, in PaaSTA's order (§3).
    pub fn docker_parameters(&self) -> &[(String, String)] {
        &self.parameters
    }

    /// The structured spec (`local-run --json-dict`), env values included.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("a spec serializes");
        let env: serde_json::Map<String, serde_json::Value> = self
            .env
            .iter()
            .map(|(k, val)| (k.clone(), val.clone().into()))
            .collect();
        let labels: serde_json::Map<String, serde_json::Value> = self
            .labels
            .iter()
            .map(|(k, val)| (k.clone(), val.clone().into()))
            .collect();
        v["env"] = env.into();
        v["labels"] = labels.into();
        v["argv"] = self.docker_run_argv().into();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use soa::Service;

    /// An instance of a one-file service in a scratch soa dir.
    fn instance(yaml: &str) -> (tempfile::TempDir, InstanceConfig) {
        let dir = tempfile::tempdir().unwrap();
        let svc = dir.path().join("svc");
        std::fs::create_dir_all(&svc).unwrap();
        std::fs::write(svc.join("service.yaml"), "git_url: /x\n").unwrap();
        std::fs::write(svc.join("marathon-c.yaml"), yaml).unwrap();
        let service = Service::load(dir.path(), "svc").unwrap();
        let config = service.instance_config(&service.files[0], "main").unwrap();
        (dir, config)
    }

    fn vol(host: &str, container: &str, mode: &str) -> Volume {
        Volume {
            host_path: host.into(),
            container_path: container.into(),
            mode: mode.into(),
        }
    }

    #[test]
    fn resources_parameters_and_env() {
        let (_d, c) = instance("main:\n  monitoring: {team: t}\n  cpus: 0.5\n  mem: 300.5\n  cfs_period_us: 50000\n  cap_add: [NET_ADMIN]\n  extra_docker_args: {shm-size: 1g}\n  env: {PAASTA_CLUSTER: overridden, A: b}\n");
        let (spec, _) = build(
            &c,
            SpecOptions {
                image: "reg.example.com/services-svc:paasta-abc".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (
                spec.memory_mb,
                spec.memory_swap_mb,
                spec.cpu_period,
                spec.cpu_quota
            ),
            (300, 365, 50000, 75000)
        );
        let params: Vec<String> = spec
            .docker_parameters()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            &params[..8],
            [
                "memory-swap=365m",
                "cpu-period=50000",
                "cpu-quota=75000",
                "label=paasta_service=svc",
                "label=paasta_instance=main",
                "shm-size=1g",
                "cap-add=NET_ADMIN",
                "init=true"
            ]
        );
        assert_eq!(params.len(), 8 + 14);
        let env: Vec<&str> = spec.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            env,
            [
                "PAASTA_SERVICE",
                "PAASTA_INSTANCE",
                "PAASTA_CLUSTER",
                "PAASTA_DEPLOY_GROUP",
                "PAASTA_DOCKER_IMAGE",
                "PAASTA_MONITORING_TEAM",
                "PAASTA_INSTANCE_TYPE",
                "A"
            ]
        );
        assert_eq!(spec.env[2].1, "overridden", "the user's env wins");
        assert_eq!(
            spec.env[4].1, "services-svc:paasta-abc",
            "PAASTA_DOCKER_IMAGE has no registry"
        );
        assert_eq!(spec.env[6].1, "marathon");
    }

    #[test]
    fn volumes_merge_dedupe_sort_and_skip_missing_host_paths() {
        let tmp = std::env::temp_dir().display().to_string();
        let (_d, c) = instance(&format!("main:\n  extra_volumes:\n    - {{containerPath: /b, hostPath: {tmp}, mode: RW}}\n    - {{containerPath: /a, hostPath: /nonexistent/x, mode: RO}}\n"));
        let system = vec![vol("/", "/root-ro", "RO"), vol(&tmp, "/b", "RW")];
        let (spec, warnings) = build(
            &c,
            SpecOptions {
                system_volumes: system,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            spec.volumes,
            [
                Mount {
                    host: tmp.clone(),
                    container: "/b".into(),
                    mode: "rw".into()
                },
                Mount {
                    host: "/".into(),
                    container: "/root-ro".into(),
                    mode: "ro".into()
                }
            ]
        );
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("/nonexistent/x does not exist"),
            "{warnings:?}"
        );
    }

    #[test]
    fn relative_paths_and_bad_modes_are_errors() {
        let (_d, c) = instance("main: {}\n");
        let err = build(
            &c,
            SpecOptions {
                system_volumes: vec![vol("etc", "/etc", "RO")],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the system config: key volumes: volumes[0]: hostPath \"etc\" is not an absolute path"
        );
        let err = build(
            &c,
            SpecOptions {
                system_volumes: vec![vol("/etc", "/etc", "rx")],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("mode \"rx\" is neither RO nor RW"),
            "{err}"
        );
    }

    #[test]
    fn host_networking_publishes_nothing() {
        let (_d, c) = instance("main:\n  net: host\n");
        let (spec, _) = build(
            &c,
            SpecOptions {
                publish: Some(1234),
                detach: true,
                ..Default::default()
            },
        )
        .unwrap();
        let argv = spec.docker_run_argv();
        assert!(argv.contains(&"--net=host".to_string()));
        assert!(!argv.iter().any(|a| a.starts_with("--publish")));
        assert_eq!(number_text(1024.0), "1024");
        assert_eq!(number_text(0.25), "0.25");
    }
}
