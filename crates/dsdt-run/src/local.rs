//! The Local backend: the transform's image on the local Docker engine, attached (its output
//! streams through), removed afterwards whatever happened, its exit status ours; on success the
//! output bundle is pulled into the current context.
//!
//! The container uses the host's network, so a remote the host reaches on loopback (a test S3,
//! a proxy) is reached the same way; it gets the host's AWS settings (the variables, and
//! ~/.aws read-only), and a `file://` remote's directory at the same path.

use crate::{image_name, Cli, Host};
use anyhow::{Context as _, Result};
use container::spec::{ContainerSpec, Mount, Network};
use container::Engine;
use std::process::ExitCode;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The host's AWS variables a container is given, as set here.
const FORWARDED: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
];

/// The host's AWS variables, with `--profile` and temporary credentials over them.
pub fn container_env(
    profile: Option<&str>,
    session: Option<&crate::aws::SessionCredentials>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = FORWARDED
        .iter()
        .filter_map(|k| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_string(), v))
        })
        .collect();
    let mut set = |k: &str, v: &str| {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
    };
    if let Some(p) = profile {
        set("AWS_PROFILE", p);
    }
    if let Some(s) = session {
        set("AWS_ACCESS_KEY_ID", &s.access_key_id);
        set("AWS_SECRET_ACCESS_KEY", &s.secret_access_key);
        set("AWS_SESSION_TOKEN", &s.session_token);
    }
    env
}

pub async fn run(cli: &Cli, host: &Host) -> Result<ExitCode> {
    let job = &host.job;
    let image = cli
        .image
        .clone()
        .unwrap_or_else(|| format!("{}:latest", image_name(&job.pipe_cls)));
    let engine = Engine::connect(CONNECT_TIMEOUT).await?;
    let inspected = match engine.docker().inspect_image(&image).await {
        Ok(i) => i,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            return crate::refuse(format!(
                "the image {image} is not on this Docker engine: build it with `dsdt dockerize PIPE_ROOT {}` (dsdt run never pulls)",
                job.pipe_cls
            ))
        }
        Err(e) => return Err(container::EngineError::from(e).into()),
    };
    let luigi = inspected
        .config
        .and_then(|c| c.cmd)
        .and_then(|cmd| cmd.into_iter().next())
        .is_some_and(|first| first == "dsdt_docker");
    let session = match cli.session_token {
        Some(secs) if !cli.dry_run => {
            Some(crate::aws::Client::new(cli.profile.as_deref())?.session_token(secs)?)
        }
        _ => None,
    };
    let mut volumes = Vec::new();
    if let Some(aws) = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".aws")) {
        if aws.is_dir() {
            volumes.push(Mount {
                host: aws.display().to_string(),
                container: "/root/.aws".into(),
                mode: "ro".into(),
            });
        }
    }
    if let Ok((store::Scheme::File, dir, _)) = store::split(&job.remote_url) {
        volumes.push(Mount {
            host: dir.to_string(),
            container: dir.to_string(),
            mode: "rw".into(),
        });
    }
    let spec = ContainerSpec {
        name: format!("{}-{}", image_name(&job.pipe_cls), &job.uuid[..8]),
        image: image.clone(),
        command: job.argv(luigi),
        env: container_env(cli.profile.as_deref(), session.as_ref()),
        labels: vec![
            ("disdat.output_bundle_uuid".into(), job.uuid.clone()),
            ("disdat.pipe_cls".into(), job.pipe_cls.clone()),
        ],
        memory_mb: 0,
        memory_swap_mb: 0,
        cpu_period: 0,
        cpu_quota: 0,
        cap_add: vec![],
        cap_drop: vec![],
        init: true,
        network: Network::Host,
        container_port: 0,
        publish: None,
        volumes,
        parameters: vec![],
        options: Default::default(),
        interactive: false,
        tty: false,
        detach: false,
        healthcheck: None,
    };
    if cli.dry_run {
        let body = container::engine::create_body(&spec);
        cli::print_json_line(&serde_json::json!({
            "backend": "Local",
            "name": spec.name,
            "image": image,
            "output_bundle_uuid": job.uuid,
            "cmd": body.cmd,
            "env": body.env,
            "binds": body.host_config.and_then(|h| h.binds),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "dsdt-run: running {} in {image} (container {})",
        job.pipe_cls, spec.name
    );
    let id = engine.create(&spec).await?;
    // From here on the container must not outlive us, whatever happens.
    let outcome = supervise(&engine, &id).await;
    let removed = engine.remove(&id).await;
    let code = outcome?;
    removed.with_context(|| format!("removing container {}", spec.name))?;
    if code != 0 {
        eprintln!(
            "dsdt-run: {} failed in {image} (exit {code}); no output bundle was made",
            job.pipe_cls
        );
        return Ok(ExitCode::from(code.clamp(1, 255) as u8));
    }
    let hf = host.pull_output().await?;
    eprintln!(
        "dsdt-run: output bundle {} ({}) pulled into context {}",
        hf.human_name, hf.uuid, host.context
    );
    Ok(ExitCode::SUCCESS)
}

/// Streams the container until it ends; an interrupt or terminate stops it (and it is still
/// waited for, so its status is known). Its exit status.
async fn supervise(engine: &Engine, id: &str) -> Result<i64> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut output = engine.attach(id, false).await?.output;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    engine.start(id).await?;
    let pump = container::engine::copy_output(&mut output);
    tokio::pin!(pump);
    loop {
        tokio::select! {
            r = &mut pump => {
                r?;
                return Ok(engine.wait(id).await?);
            }
            _ = sigint.recv() => {
                eprintln!("dsdt-run: interrupted; stopping the container");
                engine.stop(id, Duration::from_secs(10)).await?;
            }
            _ = sigterm.recv() => {
                eprintln!("dsdt-run: terminated; stopping the container");
                engine.stop(id, Duration::from_secs(10)).await?;
            }
        }
    }
}
