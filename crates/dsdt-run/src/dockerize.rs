//! `dsdt dockerize PIPE_ROOT PIPE_CLS`: the transform's image, built through the Engine API
//! from a base image the engine has: a container of the base is made (never started), the
//! pipeline and dsdt's runtime are copied into it, and it is committed with the runtime as its
//! entrypoint. `--push` sends it to the registry of Disdat's config.
//!
//! Layout in the image (docs/disdat.md §8):
//!   /opt/dsdt/pipeline/   PIPE_ROOT's files
//!   /opt/dsdt/bin/dsdt    the runtime (`dsdt entrypoint`)
//!   /opt/dsdt/lib/        the C libraries it links and their loader, which runs it, so the
//!                         runtime needs nothing from the base image (busybox-static has no libc)
//!   /opt/dsdt/ca-certificates.crt  the host's CA bundle (SSL_CERT_FILE), for S3 over TLS

use crate::{image_name, refuse};
use anyhow::{anyhow, bail, Context as _, Result};
use bollard::models::{ContainerConfig, ContainerCreateBody};
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, PushImageOptionsBuilder,
    TagImageOptionsBuilder, UploadToContainerOptionsBuilder,
};
use clap::Parser;
use container::Engine;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  dsdt dockerize pipeline tasks.Upper --base-image python:3-slim
  dsdt dockerize pipeline copy.sh --base-image busybox --push";

/// Build a transform's image (disdat-<module>…:latest): its pipeline and dsdt's runtime on a base image.
#[derive(Debug, Parser)]
#[command(name = "dsdt-dockerize", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The pipeline directory (copied into the image).
    pub pipe_root: PathBuf,
    /// The transform: a Python class `module.submodule.Class` of the pipeline, or an executable in it.
    pub pipe_cls: String,
    /// The image to build on; it must be on the engine already (never pulled). A Python
    /// transform needs python3 in it.
    #[arg(long, default_value = "python:3-slim")]
    pub base_image: String,
    /// Push the image to `[docker] registry` of Disdat's config (`*ECR*`: to the ECR
    /// repository, made when missing).
    #[arg(long)]
    pub push: bool,
    /// The AWS profile, for ECR (as AWS_PROFILE).
    #[arg(long)]
    pub profile: Option<String>,
    /// The dsdt binary to ship as the runtime (default: the dsdt beside this program).
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,
    /// Say what would be built and pushed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "EXIT STATUS",
        "0\tbuilt (and pushed)\n\
         1\trefused: no such transform in the pipeline, the base image is not on the engine, no registry configured for --push\n\
         2\tan error: the engine or the registry failed",
    ),
    (
        "FILES",
        "~/.config/disdat/disdat.cfg\t[docker] registry and repository_prefix, where --push sends the image",
    ),
    ("EXAMPLES", EXAMPLES),
];

const ROOT: &str = "opt/dsdt";

/// The runtime's files: the binary, and the libraries and loader it links (none when static).
#[derive(Debug, Default)]
struct Runtime {
    binary: PathBuf,
    libs: Vec<PathBuf>,
    loader: Option<PathBuf>,
}

/// What `ldd` says the binary needs: `name => /path (addr)` lines and the loader's own line.
fn parse_ldd(text: &str) -> (Vec<PathBuf>, Option<PathBuf>) {
    let mut libs = Vec::new();
    let mut loader = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some((_, rest)) = line.split_once("=>") {
            if let Some(path) = rest
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/'))
            {
                libs.push(PathBuf::from(path));
            }
        } else if let Some(path) = line
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            loader = Some(PathBuf::from(path));
        }
    }
    (libs, loader)
}

fn runtime(path: Option<&Path>) -> Result<Runtime> {
    let binary = match path {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("dsdt"))
            .filter(|p| p.is_file())
            .ok_or_else(|| {
                anyhow!("no dsdt beside this program to ship as the runtime; give --runtime PATH")
            })?,
    };
    let out = std::process::Command::new("ldd")
        .arg(&binary)
        .output()
        .with_context(|| format!("running ldd on {}", binary.display()))?;
    let (libs, loader) = parse_ldd(&String::from_utf8_lossy(&out.stdout));
    Ok(Runtime {
        binary,
        libs,
        loader,
    })
}

impl Runtime {
    fn entrypoint(&self, pipe_cls: &str) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if let Some(loader) = &self.loader {
            let name = loader.file_name().unwrap_or_default().to_string_lossy();
            v.extend([
                format!("/{ROOT}/lib/{name}"),
                "--library-path".into(),
                format!("/{ROOT}/lib"),
            ]);
        }
        v.extend(
            [
                &format!("/{ROOT}/bin/dsdt"),
                "entrypoint",
                "--pipeline",
                &format!("/{ROOT}/pipeline"),
                "--pipe-cls",
                pipe_cls,
            ]
            .map(String::from),
        );
        v
    }
}

/// The tar that goes into the image at `/`.
fn layer(rt: &Runtime, pipe_root: &Path, ca: Option<&Path>) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let file = |b: &mut tar::Builder<Vec<u8>>, src: &Path, dest: &str, mode: u32| -> Result<()> {
        let bytes = std::fs::read(src).with_context(|| src.display().to_string())?;
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        b.append_data(&mut h, dest, bytes.as_slice())?;
        Ok(())
    };
    file(&mut b, &rt.binary, &format!("{ROOT}/bin/dsdt"), 0o755)?;
    for lib in rt.libs.iter().chain(&rt.loader) {
        let name = lib.file_name().unwrap_or_default().to_string_lossy();
        file(&mut b, lib, &format!("{ROOT}/lib/{name}"), 0o755)?;
    }
    if let Some(ca) = ca {
        file(&mut b, ca, &format!("{ROOT}/ca-certificates.crt"), 0o644)?;
    }
    b.append_dir_all(format!("{ROOT}/pipeline"), pipe_root)
        .with_context(|| format!("packing {}", pipe_root.display()))?;
    Ok(b.into_inner()?)
}

/// Where `--push` sends the image: `<registry>/[<repository_prefix>/]<image>`.
pub fn registry_name(registry: &str, prefix: Option<&str>, image: &str) -> String {
    let mut name = registry.trim_end_matches('/').to_string();
    if let Some(p) = prefix
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        name.push('/');
        name.push_str(p);
    }
    format!("{name}/{image}")
}

/// The host's CA bundle, if it has one where Debian and Red Hat keep it.
fn ca_bundle() -> Option<PathBuf> {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    if !cli.pipe_root.is_dir() {
        return refuse(format!(
            "{}: not a directory (the pipeline to put in the image)",
            cli.pipe_root.display()
        ));
    }
    if let Err(e) = dsdt::entrypoint::transform(&cli.pipe_root, &cli.pipe_cls) {
        return refuse(e);
    }
    let image = image_name(&cli.pipe_cls);
    let tagged = format!("{image}:latest");
    let push_to = if cli.push {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        let d = bundle::Disdat::locate(&home)?;
        match crate::registry_image(&d, &image, cli.profile.as_deref(), cli.dry_run)? {
            Some(r) => Some(r),
            None => {
                return refuse(format!(
                    "--push: no registry: set [docker] registry in {}",
                    d.config_dir.join("disdat.cfg").display()
                ))
            }
        }
    } else {
        None
    };
    let rt = runtime(cli.runtime.as_deref())?;
    let entrypoint = rt.entrypoint(&cli.pipe_cls);
    if cli.dry_run {
        cli::print_json_line(&serde_json::json!({
            "image": tagged,
            "base_image": cli.base_image,
            "entrypoint": entrypoint,
            "runtime": rt.binary,
            "libraries": rt.libs.iter().chain(&rt.loader).collect::<Vec<_>>(),
            "push": push_to.as_ref().map(|p| format!("{}:latest", p.name)),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    cli::runtime()?.block_on(async {
        let engine = Engine::connect(Duration::from_secs(10)).await?;
        if !engine.image_exists(&cli.base_image).await? {
            return refuse(format!(
                "the base image {} is not on this Docker engine (dockerize never pulls): build or load it first",
                cli.base_image
            ));
        }
        let ca = ca_bundle();
        let tar = layer(&rt, &cli.pipe_root, ca.as_deref())?;
        eprintln!(
            "dsdt-dockerize: building {tagged} on {} ({} KiB of pipeline and runtime)",
            cli.base_image,
            tar.len() / 1024
        );
        build(&engine, &cli, &tagged, &entrypoint, ca.is_some(), tar).await?;
        eprintln!("dsdt-dockerize: built {tagged}");
        if let Some(target) = push_to {
            let login = if target.ecr {
                Some(crate::aws::Client::new(cli.profile.as_deref())?.ecr_login()?)
            } else {
                None
            };
            push(&engine, &tagged, &target.name, login).await?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn build(
    engine: &Engine,
    cli: &Cli,
    tagged: &str,
    entrypoint: &[String],
    ca: bool,
    tar: Vec<u8>,
) -> Result<()> {
    let docker = engine.docker();
    let name = format!(
        "{}-dockerize-{}",
        image_name(&cli.pipe_cls),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                image: Some(cli.base_image.clone()),
                // Never started: an entrypoint only so that a base without a command is accepted.
                entrypoint: Some(vec![format!("/{ROOT}/bin/dsdt")]),
                ..Default::default()
            },
        )
        .await
        .map_err(container::EngineError::from)?;
    let result = async {
        docker
            .upload_to_container(
                &created.id,
                Some(UploadToContainerOptionsBuilder::default().path("/").build()),
                bollard::body_full(tar.into()),
            )
            .await
            .map_err(container::EngineError::from)?;
        let mut env = vec![format!("DSDT_PIPE_CLS={}", cli.pipe_cls)];
        if ca {
            env.push(format!("SSL_CERT_FILE=/{ROOT}/ca-certificates.crt"));
        }
        let (repo, tag) = tagged.rsplit_once(':').unwrap_or((tagged, "latest"));
        docker
            .commit_container(
                CommitContainerOptionsBuilder::default()
                    .container(&created.id)
                    .repo(repo)
                    .tag(tag)
                    .comment("dsdt dockerize")
                    .pause(false)
                    .build(),
                ContainerConfig {
                    entrypoint: Some(entrypoint.to_vec()),
                    cmd: Some(vec![]),
                    env: Some(env),
                    labels: Some(
                        [
                            ("disdat.pipe_cls".to_string(), cli.pipe_cls.clone()),
                            ("disdat.runtime".to_string(), "dsdt".to_string()),
                        ]
                        .into(),
                    ),
                    ..Default::default()
                },
            )
            .await
            .map_err(container::EngineError::from)?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    engine
        .remove(&created.id)
        .await
        .with_context(|| format!("removing the build container {name}"))?;
    result
}

/// Tags `tagged` as `target:latest` and pushes it, with `login` (user, password) when the
/// registry needs one.
async fn push(
    engine: &Engine,
    tagged: &str,
    target: &str,
    login: Option<(String, String)>,
) -> Result<()> {
    let docker = engine.docker();
    docker
        .tag_image(
            tagged,
            Some(
                TagImageOptionsBuilder::default()
                    .repo(target)
                    .tag("latest")
                    .build(),
            ),
        )
        .await
        .map_err(container::EngineError::from)?;
    eprintln!("dsdt-dockerize: pushing {target}:latest");
    let mut stream = docker.push_image(
        target,
        Some(PushImageOptionsBuilder::default().tag("latest").build()),
        Some(match login {
            Some((user, password)) => bollard::auth::DockerCredentials {
                username: Some(user),
                password: Some(password),
                serveraddress: target.split('/').next().map(str::to_string),
                ..Default::default()
            },
            None => bollard::auth::DockerCredentials::default(),
        }),
    );
    let mut last = String::new();
    while let Some(item) = stream.next().await {
        let info =
            item.map_err(|e| anyhow!("pushing {target}: {}", container::EngineError::from(e)))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            bail!("pushing {target}: {err}");
        }
        if let Some(status) = info.status {
            if status != last {
                eprintln!("  {status}");
                last = status;
            }
        }
    }
    eprintln!("dsdt-dockerize: pushed {target}:latest");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lines() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        let (libs, loader) = parse_ldd(text);
        assert_eq!(
            libs,
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(loader, Some(PathBuf::from("/lib64/ld-linux-x86-64.so.2")));
        assert_eq!(parse_ldd("\tstatically linked\n"), (vec![], None));
    }

    #[test]
    fn registry_names() {
        assert_eq!(
            registry_name("127.0.0.1:5000/", Some("/team/"), "disdat-x"),
            "127.0.0.1:5000/team/disdat-x"
        );
        assert_eq!(
            registry_name("r.example", None, "disdat-x"),
            "r.example/disdat-x"
        );
    }
}
