//! `dsdt run` (the dsdt-run binary) and `dsdt dockerize` (dsdt-dockerize): a transform in a
//! container, on the local Docker engine or on AWS Batch (docs/disdat.md §8).
//!
//! The host side only: find and push the input bundle, name the image, build the argv the
//! image's runtime takes (`dsdt entrypoint`, in the dsdt crate), and run it (`local`) or queue
//! it (`batch`); `dockerize` builds the image.

use anyhow::{anyhow, Result};
use bundle::pb::HyperFrame;
use bundle::remote::Remote;
use bundle::{Context, Disdat, Filter};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

pub mod aws;
pub mod batch;
pub mod dockerize;
pub mod local;

/// Refused: the input, context, remote or image is not what a run needs.
pub const EXIT_REFUSED: u8 = 1;

const EXAMPLES: &str = "\
Examples:
  dsdt dockerize pipeline tasks.Upper --base-image python:3-slim
  dsdt run scores scores_upper tasks.Upper --alpha 1
  dsdt run -it team:data -ot stage:dev scores out copy.sh
  dsdt run --backend AWSBatch --use-aws-session-token 3600 scores out tasks.Upper
  dsdt run --backend AWSBatch --wait scores out tasks.Upper";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    #[value(name = "Local")]
    Local,
    #[value(name = "AWSBatch")]
    AwsBatch,
}

/// Run a transform in a container: the input bundle in, a new version of the output bundle out.
#[derive(Debug, Parser)]
#[command(name = "dsdt-run", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Where the container runs: the local Docker engine, or AWS Batch.
    #[arg(long, value_enum, default_value = "Local")]
    pub backend: Backend,
    /// Kept for Disdat's command line: runs are never skipped.
    #[arg(long)]
    pub force: bool,
    /// Do not push the input bundle to the remote first (it is there already).
    #[arg(long)]
    pub no_push_input: bool,
    /// Pass the container temporary credentials (STS GetSessionToken) valid this many seconds.
    #[arg(
        long = "use-aws-session-token",
        value_name = "AWS_SESSION_TOKEN_DURATION"
    )]
    pub session_token: Option<u64>,
    /// Take the input bundle with tag KEY:VALUE (repeatable; also -it).
    #[arg(long = "input-tag", value_name = "KEY:VALUE")]
    pub input_tags: Vec<String>,
    /// Tag the output bundle KEY:VALUE (repeatable; also -ot).
    #[arg(long = "output-tag", value_name = "KEY:VALUE")]
    pub output_tags: Vec<String>,
    /// The image to run instead of the transform's own (disdat-<module>…:latest).
    #[arg(long)]
    pub image: Option<String>,
    /// AWSBatch: wait for the job to end, exit with its result, and pull the output bundle.
    #[arg(long)]
    pub wait: bool,
    /// AWSBatch: the job definition's vCPUs.
    #[arg(long, default_value_t = 2)]
    pub vcpus: u32,
    /// AWSBatch: the job definition's memory, MiB.
    #[arg(long, default_value_t = 4000)]
    pub memory: u32,
    /// AWSBatch: the role the job runs as.
    #[arg(long, value_name = "ARN")]
    pub job_role_arn: Option<String>,
    /// The AWS profile (as AWS_PROFILE).
    #[arg(long)]
    pub profile: Option<String>,
    /// Say what would run (the container, or the Batch requests) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    pub input_bundle: String,
    pub output_bundle: String,
    /// The transform: a Python class `module.submodule.Class`, or an executable of the pipeline.
    pub pipe_cls: String,
    /// The transform's own arguments (`--NAME VALUE` become the output's params).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "EXIT STATUS",
        "0\tLocal: the transform ran and its output bundle is pulled; AWSBatch: the job is queued (--wait: it succeeded)\n\
         1\trefused: the input bundle is missing or not committed, the context has no remote, the image is not on the engine\n\
         2\tan error: the Docker engine, AWS or the remote failed, or a flag is wrong\n\
         other\tLocal and --wait: the transform failed; the container's status (74 from dsdt's runtime)",
    ),
    (
        "ENVIRONMENT",
        "AWS_PROFILE, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN\tcredentials and region, as the AWS CLI; passed on to a Local container\n\
         AWS_ENDPOINT_URL\tanother S3, Batch and STS server; passed on to the container\n\
         DOCKER_HOST\tthe Docker engine",
    ),
    (
        "FILES",
        "~/.config/disdat/disdat.cfg\t[docker] registry, repository_prefix; [run] aws_batch_queue, aws_batch_job_definition",
    ),
    ("EXAMPLES", EXAMPLES),
];

/// Disdat spells the tag flags `-it` and `-ot`, which clap cannot take as short flags: they
/// are rewritten to the long ones, up to the transform's name (after it, they are the
/// transform's).
pub fn long_tag_flags(argv: Vec<String>) -> Vec<String> {
    const TAKES_VALUE: &[&str] = &[
        "--backend",
        "--use-aws-session-token",
        "--input-tag",
        "--output-tag",
        "--image",
        "--vcpus",
        "--memory",
        "--job-role-arn",
        "--profile",
    ];
    let mut out = Vec::with_capacity(argv.len());
    let mut positional = 0;
    let mut value_next = false;
    let mut iter = argv.into_iter();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    for a in iter.by_ref() {
        let a = match a.as_str() {
            "-it" if positional < 3 && !value_next => "--input-tag".to_string(),
            "-ot" if positional < 3 && !value_next => "--output-tag".to_string(),
            _ => a,
        };
        if value_next {
            value_next = false;
        } else if TAKES_VALUE.contains(&a.as_str()) {
            value_next = true;
        } else if !a.starts_with('-') {
            positional += 1;
        }
        out.push(a);
        if positional == 3 {
            break;
        }
    }
    out.extend(iter);
    out
}

/// `disdat-<module>-<submodule>…` for `module.submodule.Class`, lower-case (the class dropped);
/// an executable's path gives its words (`copy.sh` → `disdat-copy`).
pub fn image_name(pipe_cls: &str) -> String {
    let module = pipe_cls
        .rsplit_once('.')
        .map_or(pipe_cls, |(m, _)| m)
        .to_ascii_lowercase();
    let mut name = String::from("disdat");
    for word in module.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !word.is_empty() {
            name.push('-');
            name.push_str(word);
        }
    }
    name
}

/// The Batch job definition of a transform: `<image name>-job-definition`.
pub fn job_definition_name(pipe_cls: &str) -> String {
    format!("{}-job-definition", image_name(pipe_cls))
}

/// `[docker] registry` naming Amazon ECR: the image goes to ECR repository
/// `[<prefix>/]<image>`.
pub const ECR: &str = "*ECR*";

/// The transform's image in the registry of Disdat's config, without its tag.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryImage {
    pub name: String,
    /// In ECR (push with ECR's credentials).
    pub ecr: bool,
}

/// Where `image` goes in the registry of Disdat's config (`[docker] registry`,
/// `repository_prefix`): `<registry>/[<prefix>/]<image>`, or with `*ECR*` the URI of the ECR
/// repository, made when missing unless `dry_run` (then a repository to be made is named by
/// its name alone). None when no registry is set.
pub fn registry_image(
    d: &Disdat,
    image: &str,
    profile: Option<&str>,
    dry_run: bool,
) -> Result<Option<RegistryImage>> {
    let Some(registry) = d.setting("docker", "registry")? else {
        return Ok(None);
    };
    let prefix = d.setting("docker", "repository_prefix")?;
    if registry == ECR {
        let repository = match prefix.as_deref().map(|p| p.trim_matches('/')) {
            Some(p) if !p.is_empty() => format!("{p}/{image}"),
            _ => image.to_string(),
        };
        let uri = aws::Client::new(profile)?.ecr_repository(&repository, !dry_run)?;
        return Ok(Some(RegistryImage {
            name: uri.unwrap_or(repository),
            ecr: true,
        }));
    }
    Ok(Some(RegistryImage {
        name: dockerize::registry_name(&registry, prefix.as_deref(), image),
        ecr: false,
    }))
}

/// Everything a backend needs to run one transform.
#[derive(Debug, Clone)]
pub struct Job {
    pub uuid: String,
    /// The remote's URL, without `/context`.
    pub remote_url: String,
    /// REMOTE/LOCAL.
    pub branch: String,
    pub input_bundle: String,
    pub output_bundle: String,
    pub input_tags: Vec<String>,
    pub output_tags: Vec<String>,
    pub pipe_cls: String,
    pub args: Vec<String>,
}

impl Job {
    /// What the image's runtime takes: the 0.7-era argv (dsdt's runtime reads it), or for an
    /// image made by Python disdat-luigi's dockerize (its command is `dsdt_docker`) the later
    /// one, led by `dsdt_docker`.
    pub fn argv(&self, luigi_image: bool) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        let tags = |v: &mut Vec<String>| {
            for t in &self.input_tags {
                v.extend(["--input-tag".into(), t.clone()]);
            }
            for t in &self.output_tags {
                v.extend(["--output-tag".into(), t.clone()]);
            }
        };
        if luigi_image {
            v.extend(
                [
                    "dsdt_docker",
                    "--output-bundle-uuid",
                    &self.uuid,
                    "--output-bundle",
                    &self.output_bundle,
                    "--branch",
                    &self.branch,
                    "--workers",
                    "2",
                    "--remote",
                    &self.remote_url,
                ]
                .map(String::from),
            );
            tags(&mut v);
            v.push(self.pipe_cls.clone());
        } else {
            v.extend(
                [
                    "--output-bundle-uuid",
                    &self.uuid,
                    "--remote",
                    &self.remote_url,
                    "--branch",
                    &self.branch,
                ]
                .map(String::from),
            );
            tags(&mut v);
            v.push(self.input_bundle.clone());
            v.push(self.output_bundle.clone());
        }
        v.extend(self.args.iter().cloned());
        v.into_iter().map(|a| a.trim().to_string()).collect()
    }
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("HOME is not set: Disdat's config lives in ~/.config/disdat"))
}

/// A refusal: said on stderr, exit 1.
fn refuse(message: impl std::fmt::Display) -> Result<ExitCode> {
    eprintln!("dsdt-run: {message}");
    Ok(ExitCode::from(EXIT_REFUSED))
}

/// The host's side of a run, up to handing the job to a backend.
pub struct Host {
    pub disdat: Disdat,
    pub context: String,
    pub remote: Remote,
    pub job: Job,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let disdat = Disdat::locate(&home()?)?;
    let Some(context) = disdat.current()? else {
        return Err(bundle::Error::NoCurrentContext.into());
    };
    let ctx = Context::open(&disdat, &context)?;
    let filter = Filter {
        name: Some(cli.input_bundle.clone()),
        tags: dsdt::tags(&cli.input_tags)?,
        ..Default::default()
    };
    dsdt::tags(&cli.output_tags)?;
    let Some(input) = ctx.latest(&filter)? else {
        return refuse(format!(
            "context {context} has no bundle {}{}",
            cli.input_bundle,
            if cli.input_tags.is_empty() {
                String::new()
            } else {
                format!(" tagged {}", cli.input_tags.join(", "))
            }
        ));
    };
    if !input.committed() {
        return refuse(format!(
            "input bundle {} ({}) in context {context} is not committed: dsdt commit {} first (a run reads only committed bundles)",
            input.human_name, input.uuid, input.human_name
        ));
    }
    let (Some(remote_name), Some(url)) = (&ctx.info.remote, &ctx.info.remote_url) else {
        return refuse(format!(
            "context {context} is bound to no remote: the container reads its input from the remote and writes its output there (dsdt remote REMOTE s3://BUCKET/PREFIX)"
        ));
    };
    let remote_url = url.strip_suffix("/context").unwrap_or(url).to_string();
    let remote = Remote::open(&remote_url, remote_name, cli.profile.as_deref())?;
    let job = Job {
        uuid: uuid::Uuid::new_v4().to_string(),
        remote_url,
        branch: format!("{remote_name}/{context}"),
        input_bundle: cli.input_bundle.clone(),
        output_bundle: cli.output_bundle.clone(),
        input_tags: cli.input_tags.clone(),
        output_tags: cli.output_tags.clone(),
        pipe_cls: cli.pipe_cls.clone(),
        args: cli.args.clone(),
    };
    let rt = cli::runtime()?;
    if !cli.no_push_input && !cli.dry_run {
        let (objects, _) = rt.block_on(async {
            let plan = remote
                .plan_push(&ctx, std::slice::from_ref(&input), true)
                .await?;
            remote.push(plan, &|_, _| {}).await
        })?;
        eprintln!(
            "dsdt-run: input bundle {} ({}) on {}: {objects} object(s) pushed",
            input.human_name, input.uuid, remote.objects_url
        );
    }
    drop(ctx);
    let host = Host {
        disdat,
        context,
        remote,
        job,
    };
    match cli.backend {
        Backend::Local => rt.block_on(local::run(&cli, &host)),
        Backend::AwsBatch => batch::run(&cli, &host, &rt),
    }
}

impl Host {
    /// Pulls the output bundle the run made into the local context (data included).
    pub async fn pull_output(&self) -> Result<HyperFrame> {
        let ctx = Context::open_for_writing(&self.disdat, &self.context)?;
        let uuid = &self.job.uuid;
        let (pulled, _) = self
            .remote
            .pull(&ctx, &|h| h.uuid == *uuid, true, &|_, _| {})
            .await?;
        pulled.into_iter().next().ok_or_else(|| {
            anyhow!(
                "the run succeeded but {} holds no bundle {uuid}",
                self.remote.objects_url
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn names() {
        assert_eq!(
            image_name("pipelines.tasks.Upper"),
            "disdat-pipelines-tasks"
        );
        assert_eq!(image_name("Tasks.Upper"), "disdat-tasks");
        assert_eq!(image_name("copy.sh"), "disdat-copy");
        assert_eq!(image_name("bin/my_copy"), "disdat-bin-my-copy");
        assert_eq!(
            job_definition_name("pipelines.tasks.Upper"),
            "disdat-pipelines-tasks-job-definition"
        );
    }

    #[test]
    fn disdat_tag_flags() {
        assert_eq!(
            long_tag_flags(words(
                "dsdt-run -it a:b --backend Local -ot c:d in out cls -it x"
            )),
            words("dsdt-run --input-tag a:b --backend Local --output-tag c:d in out cls -it x")
        );
        // A flag's value is not a positional, and -it as a value stays.
        assert_eq!(
            long_tag_flags(words("dsdt-run --image -it in out cls")),
            words("dsdt-run --image -it in out cls")
        );
    }

    #[test]
    fn argv_of_either_era() {
        let job = Job {
            uuid: "U".into(),
            remote_url: "s3://b/p".into(),
            branch: "r/l".into(),
            input_bundle: "in".into(),
            output_bundle: "out".into(),
            input_tags: vec!["a:b".into()],
            output_tags: vec!["c:d".into()],
            pipe_cls: "m.C".into(),
            args: vec!["--alpha".into(), " 1 ".into()],
        };
        assert_eq!(
            job.argv(false),
            words("--output-bundle-uuid U --remote s3://b/p --branch r/l --input-tag a:b --output-tag c:d in out --alpha 1")
        );
        assert_eq!(
            job.argv(true),
            words("dsdt_docker --output-bundle-uuid U --output-bundle out --branch r/l --workers 2 --remote s3://b/p --input-tag a:b --output-tag c:d m.C --alpha 1")
        );
    }
}
