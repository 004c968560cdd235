//! From an instance's configs to what a backend runs: the app of a long-running instance and
//! the run of a scheduled job, each with the image deployments.json names. setup-service,
//! rerun and service-ctl build them here, so a job started by any of them is the same.

use crate::backend::{AppSpec, Backoff, RunKind, RunSpec};
use container::spec::chronos_env;
use soa::deployments::{Deployments, DesiredState};
use soa::Problem;
use soa::{InstanceConfig, Service, SystemConfig};
use std::path::{Path, PathBuf};

/// Why an instance's app or run could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A config value the spec cannot use; names the file, instance and key.
    #[error(transparent)]
    Config(#[from] soa::Problem),
    /// A config file that could not be read or parsed.
    #[error(transparent)]
    Load(#[from] soa::Error),
    #[error("no deployments.json for {service} in {} (run generate-deployments -s {service})", file.display())]
    NoDeployments { service: String, file: PathBuf },
    #[error("{service}.{instance}: its deploy group {group} has no deployment in {} (no paasta-{group}-<timestamp>-deploy tag yet?)", file.display())]
    NotDeployed {
        service: String,
        instance: String,
        group: String,
        file: PathBuf,
    },
}

impl From<container::spec::SpecError> for SpecError {
    fn from(e: container::spec::SpecError) -> Self {
        SpecError::Config(e.0)
    }
}

/// What deployments.json says about one instance.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The image reference, registry included.
    pub image: String,
    pub git_sha: String,
    /// desired_state stop.
    pub stopped: bool,
    pub force_bounce: Option<String>,
}

impl Deployed {
    /// The task count a long-running instance should have: none when stopped.
    pub fn desired_tasks(&self, config: &InstanceConfig) -> usize {
        config
            .long_running()
            .map_or(0, |l| l.desired(self.stopped) as usize)
    }
}

/// The instance's deployment; errors say which file lacks what, and how to fix it.
pub fn deployed(
    soa_dir: &Path,
    service: &Service,
    config: &InstanceConfig,
    system: &SystemConfig,
    deployments: Option<&Deployments>,
) -> Result<Deployed, SpecError> {
    let file = soa::deployments::path_for(soa_dir, &config.service);
    let deployments = deployments.ok_or_else(|| SpecError::NoDeployments {
        service: config.service.clone(),
        file: file.clone(),
    })?;
    let deployment = deployments
        .deployment(&config.deploy_group)
        .ok_or_else(|| SpecError::NotDeployed {
            service: config.service.clone(),
            instance: config.instance.clone(),
            group: config.deploy_group.clone(),
            file,
        })?;
    let control = deployments.control(&config.service, &config.cluster, &config.instance);
    Ok(Deployed {
        image: service.image_ref(system, &deployment.docker_image),
        git_sha: deployment.git_sha.clone(),
        stopped: control.is_some_and(|c| c.desired_state == DesiredState::Stop),
        force_bounce: control.and_then(|c| c.force_bounce.clone()),
    })
}

/// Marathon runs `cmd` through a shell (a list joined with spaces, as PaaSTA sends it), else
/// the image's entrypoint with `args`.
pub fn task_command(config: &InstanceConfig) -> Vec<String> {
    match (&config.cmd, &config.args) {
        (Some(cmd), _) => vec!["sh".into(), "-c".into(), cmd.joined()],
        (None, Some(args)) => args.clone(),
        (None, None) => Vec::new(),
    }
}

/// The app of a long-running instance, and warnings (volumes skipped).
pub fn app_spec(
    config: &InstanceConfig,
    system: &SystemConfig,
    deployed: &Deployed,
) -> Result<(AppSpec, Vec<String>), SpecError> {
    let desired = deployed.desired_tasks(config) as u64;
    let app = soa::marathon::app(
        config,
        system,
        &deployed.image,
        deployed.force_bounce.as_deref(),
        desired,
    )?;
    let long = config.long_running().ok_or_else(|| {
        Problem::new(&config.file, "not a long-running instance")
            .instance_of(&config.service, &config.instance)
    })?;
    let system_volumes = system.volumes()?;
    let (container, warnings) = container::spec::build(
        config,
        container::SpecOptions {
            image: deployed.image.clone(),
            command: task_command(config),
            system_volumes,
            detach: true,
            ..Default::default()
        },
    )?;
    let backoff = Backoff {
        seconds: soa::marathon::backoff_seconds(desired) as f64,
        factor: long.backoff_factor,
        max: long.max_launch_delay_seconds,
    };
    let spec = AppSpec {
        id: app.id.clone(),
        service: config.service.clone(),
        instance: config.instance.clone(),
        cluster: config.cluster.clone(),
        git_sha: app.git_sha.clone(),
        config_hash: app.config_hash.clone(),
        definition: app.definition,
        container,
        health: container::health::probe_for(config),
        backoff,
    };
    Ok((spec, warnings))
}

/// Which run of a job to build.
#[derive(Debug, Clone)]
pub struct RunOf {
    /// `<service> <instance>`, or a rerun's temporary name.
    pub job: String,
    pub kind: RunKind,
    pub due: i64,
    pub attempt: u32,
    pub started_ms: i64,
}

/// A job's run: its container with the command interpolated at the due time, and the command
/// (None when the job runs its image's entrypoint with `args`) and warnings.
pub fn run_spec(
    config: &InstanceConfig,
    system: &SystemConfig,
    deployed: &Deployed,
    run: RunOf,
) -> Result<(RunSpec, Option<String>, Vec<String>), SpecError> {
    let command = soa::jobs::command_at(config, run.due)?;
    let argv = match (&command, &config.args) {
        (Some(c), _) => vec!["sh".into(), "-c".into(), c.clone()],
        (None, Some(args)) => args.clone(),
        (None, None) => Vec::new(),
    };
    let system_volumes = system.volumes()?;
    let (container, warnings) = container::spec::build(
        config,
        container::SpecOptions {
            image: deployed.image.clone(),
            command: argv,
            system_volumes,
            extra_env: chronos_env(
                config,
                &run.job,
                config.team.as_deref().unwrap_or(""),
                run.due,
                run.attempt,
            ),
            detach: true,
            ..Default::default()
        },
    )?;
    let spec = RunSpec {
        service: config.service.clone(),
        instance: config.instance.clone(),
        cluster: config.cluster.clone(),
        job: run.job,
        kind: run.kind,
        due: run.due,
        attempt: run.attempt,
        started_ms: run.started_ms,
        git_sha: deployed.git_sha.clone(),
        container,
    };
    Ok((spec, command, warnings))
}
