//! `dsdt entrypoint`: the runtime inside a transform's image (docs/disdat.md §8). It takes the
//! argv a host passes to the image (the 0.7-era one, which dsdt-run passes too), binds a
//! context to the remote, pulls and localizes the input bundle, runs the transform, makes the
//! output bundle with the uuid the host chose, commits it and pushes it. Exit 0, or 74
//! (EX_IOERR, as Disdat's own runtime) with the reason on stderr.

use anyhow::{anyhow, bail, Context as _, Result};
use bundle::pb::{Dependency, HyperFrame};
use bundle::remote::{context_url, Remote};
use bundle::{Context, Disdat, Filter, Origin, Run};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What a failed run exits with.
pub const EXIT_FAILED: u8 = 74;

/// The image's own arguments (dockerize bakes them into its entrypoint), then the host's.
#[derive(Debug, Args)]
pub struct EntrypointArgs {
    /// The pipeline directory in the image.
    #[arg(long, value_name = "DIR", default_value = "/opt/dsdt/pipeline")]
    pub pipeline: PathBuf,
    /// The transform: a Python class `module.submodule.Class` of the pipeline, or an
    /// executable's path inside it.
    #[arg(long, value_name = "CLS")]
    pub pipe_cls: String,
    /// The uuid the output bundle gets.
    #[arg(long, value_name = "UUID")]
    pub output_bundle_uuid: String,
    /// The remote: s3://BUCKET[/PREFIX] (or file:///DIR).
    #[arg(long, value_name = "URL")]
    pub remote: String,
    /// The context, REMOTE/LOCAL (a bare LOCAL is its own remote context).
    #[arg(long, value_name = "R/L")]
    pub branch: String,
    /// Take the input bundle with tag KEY:VALUE (repeatable).
    #[arg(long = "input-tag", value_name = "KEY:VALUE")]
    pub input_tags: Vec<String>,
    /// Tag the output bundle KEY:VALUE (repeatable).
    #[arg(long = "output-tag", value_name = "KEY:VALUE")]
    pub output_tags: Vec<String>,
    pub input_bundle: String,
    pub output_bundle: String,
    /// The transform's own arguments (`--NAME VALUE` become its params).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(home: &Path, a: EntrypointArgs) -> ExitCode {
    match entry(home, &a) {
        Ok(hf) => {
            eprintln!(
                "dsdt entrypoint: made bundle {} uuid {} and pushed it to {}",
                hf.human_name, hf.uuid, a.remote
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dsdt entrypoint: {}", cli::describe(&e));
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// `--NAME VALUE`, `--NAME=VALUE` and a bare `--FLAG` (True) are params by name; other words
/// are `arg1`, `arg2`… in order.
pub fn params(args: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut positional = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(name) = a.strip_prefix("--").filter(|n| !n.is_empty()) {
            if let Some((k, v)) = name.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            } else if args.get(i + 1).is_some_and(|n| !n.starts_with("--")) {
                out.push((name.to_string(), args[i + 1].clone()));
                i += 1;
            } else {
                out.push((name.to_string(), "True".to_string()));
            }
        } else {
            positional += 1;
            out.push((format!("arg{positional}"), a.clone()));
        }
        i += 1;
    }
    out
}

fn entry(home: &Path, a: &EntrypointArgs) -> Result<HyperFrame> {
    let kind = transform(&a.pipeline, &a.pipe_cls)?;
    let task = match &kind {
        Transform::Executable(path) => path
            .file_name()
            .map_or_else(|| a.pipe_cls.clone(), |n| n.to_string_lossy().into_owned()),
        Transform::Python { class, .. } => class.clone(),
    };
    let in_tags = crate::tags(&a.input_tags)?;
    let out_tags = crate::tags(&a.output_tags)?;
    let (remote, local) = a.branch.split_once('/').unwrap_or((&a.branch, &a.branch));
    let d = match Disdat::init(home)? {
        Ok(d) => d,
        Err(_) => Disdat::locate(home)?,
    };
    d.create_context(Some(remote), local)?;
    let mut info = d.info(local)?;
    info.remote = Some(remote.to_string());
    info.remote_url = Some(context_url(&a.remote));
    d.write_info(&info)?;
    d.set_current(local)?;
    let ctx = Context::open_for_writing(&d, local)?;
    let r = Remote::open(&a.remote, remote, None)?;
    let rt = cli::runtime()?;
    let quiet = |_: usize, _: usize| {};

    // The input: the latest committed bundle of that name (and tags) on the remote, its data
    // fetched.
    let filter = Filter {
        name: Some(a.input_bundle.clone()),
        tags: in_tags,
        committed: Some(true),
        ..Default::default()
    };
    rt.block_on(r.pull(&ctx, &|h| filter.matches(h), false, &quiet))
        .with_context(|| format!("pulling input bundle {}", a.input_bundle))?;
    let Some(input) = ctx.latest(&filter)? else {
        bail!(
            "no committed bundle {} in context {} or on its remote {}",
            a.input_bundle,
            local,
            r.objects_url
        );
    };
    rt.block_on(r.pull(&ctx, &|h| h.uuid == input.uuid, true, &quiet))
        .with_context(|| format!("pulling input bundle {} ({})", input.human_name, input.uuid))?;

    let work = tempfile::Builder::new()
        .prefix("dsdt-run-")
        .tempdir()
        .context("making a work directory")?;
    let (in_dir, out_dir) = (work.path().join("input"), work.path().join("output"));
    stage_input(&ctx, &input, &in_dir)?;
    std::fs::create_dir_all(&out_dir).with_context(|| out_dir.display().to_string())?;

    let params = params(&a.args);
    let start = bundle::context::now();
    run_transform(a, kind, &in_dir, &out_dir, &params)?;
    let stop = bundle::context::now();

    if std::fs::read_dir(&out_dir)?.next().is_none() {
        bail!(
            "transform {} wrote no file into its output directory, so there is no bundle {} to make",
            a.pipe_cls,
            a.output_bundle
        );
    }
    let mut hf = ctx.make(
        &a.output_bundle,
        &[out_dir],
        &out_tags,
        &Origin::Run(Run {
            uuid: a.output_bundle_uuid.clone(),
            pipe_cls: a.pipe_cls.clone(),
            task,
            params,
            depends_on: vec![Dependency {
                hframe_proc_name: input.processing_name.clone(),
                hframe_uuid: input.uuid.clone(),
                arg_name: a.input_bundle.clone(),
            }],
            start_time: start,
            stop_time: stop,
        }),
    )?;
    ctx.commit(&mut hf)?;
    rt.block_on(async {
        let plan = r.plan_push(&ctx, std::slice::from_ref(&hf), false).await?;
        r.push(plan, &quiet).await
    })
    .with_context(|| format!("pushing output bundle {} ({})", hf.human_name, hf.uuid))?;
    Ok(hf)
}

/// The input bundle's files under `dir`, at their paths in the bundle (hard links where the
/// file system allows, copies otherwise).
fn stage_input(ctx: &Context, hf: &HyperFrame, dir: &Path) -> Result<()> {
    let bundle_dir = ctx.bundle_dir(&hf.uuid);
    for target in ctx.link_targets(hf)?.into_iter().flatten() {
        let src = PathBuf::from(&target);
        let rel = src.strip_prefix(&bundle_dir).map_err(|_| {
            anyhow!(
                "input bundle {} ({}): {target} is not a file of the bundle",
                hf.human_name,
                hf.uuid
            )
        })?;
        let dest = dir.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
        }
        if std::fs::hard_link(&src, &dest).is_err() {
            std::fs::copy(&src, &dest).with_context(|| format!("copying {target}"))?;
        }
    }
    Ok(())
}

/// How a transform is run: an executable of the pipeline, or a Python class through python3.
#[derive(Debug, PartialEq)]
pub enum Transform {
    Executable(PathBuf),
    Python { module: String, class: String },
}

/// Which kind `pipe_cls` is in `pipeline`: a file at that path is an executable; otherwise
/// `a.b.Class` with `a/b.py` in the pipeline is a Python class.
pub fn transform(pipeline: &Path, pipe_cls: &str) -> Result<Transform> {
    let as_file = pipeline.join(pipe_cls);
    if bundle::inside_bundle(pipe_cls) && as_file.is_file() {
        return Ok(Transform::Executable(as_file));
    }
    if let Some((module, class)) = pipe_cls.rsplit_once('.') {
        let file = pipeline.join(format!("{}.py", module.replace('.', "/")));
        if !module.is_empty() && !class.is_empty() && file.is_file() {
            return Ok(Transform::Python {
                module: module.to_string(),
                class: class.to_string(),
            });
        }
    }
    bail!(
        "transform {pipe_cls}: neither an executable {} nor a Python class in {}",
        as_file.display(),
        pipeline.display()
    )
}

/// The Python side of the calling convention (docs/disdat.md §8): `Class()` is made and its
/// `pipe_run(inputs, output_dir, **params)` called; inputs are the input bundle's files, params
/// come as NAME VALUE words. Only the minimal standard library is used (python3-minimal).
const PYTHON_SHIM: &str = r#"
import importlib, os, sys
root, module, cls, in_dir, out_dir = sys.argv[1:6]
words = sys.argv[6:]
params = dict(zip(words[0::2], words[1::2]))
sys.path.insert(0, root)
task = getattr(importlib.import_module(module), cls)()
inputs = sorted(os.path.join(d, f) for d, _, fs in os.walk(in_dir) for f in fs)
task.pipe_run(inputs, out_dir, **params)
"#;

fn run_transform(
    a: &EntrypointArgs,
    kind: Transform,
    in_dir: &Path,
    out_dir: &Path,
    params: &[(String, String)],
) -> Result<()> {
    let mut cmd = match kind {
        Transform::Executable(path) => {
            let mut c = std::process::Command::new(path);
            c.args(&a.args);
            c
        }
        Transform::Python { module, class } => {
            let mut c = std::process::Command::new("python3");
            c.arg("-c")
                .arg(PYTHON_SHIM)
                .arg(&a.pipeline)
                .arg(module)
                .arg(class)
                .arg(in_dir)
                .arg(out_dir)
                .args(params.iter().flat_map(|(k, v)| [k, v]));
            c
        }
    };
    cmd.env("DSDT_INPUT_DIR", in_dir)
        .env("DSDT_OUTPUT_DIR", out_dir)
        .env("DSDT_OUTPUT_BUNDLE", &a.output_bundle)
        .env("DSDT_OUTPUT_BUNDLE_UUID", &a.output_bundle_uuid)
        .current_dir(in_dir.parent().unwrap_or(in_dir));
    let status = cmd.status().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!(
                "transform {}: {} not found (a Python transform needs python3 in the image)",
                a.pipe_cls,
                cmd.get_program().to_string_lossy()
            )
        } else {
            anyhow!("transform {}: {e}", a.pipe_cls)
        }
    })?;
    if !status.success() {
        bail!(
            "transform {} failed ({status}); no bundle {} was made",
            a.pipe_cls,
            a.output_bundle
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_by_name_and_position() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            params(&words("--alpha 1 --beta=two --dry-run --gamma x y")),
            [
                ("alpha", "1"),
                ("beta", "two"),
                ("dry-run", "True"),
                ("gamma", "x"),
                ("arg1", "y")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn transform_kinds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/tasks.py"), "").unwrap();
        std::fs::write(dir.path().join("copy.sh"), "").unwrap();
        assert_eq!(
            transform(dir.path(), "pkg.tasks.Copy").unwrap(),
            Transform::Python {
                module: "pkg.tasks".into(),
                class: "Copy".into()
            }
        );
        assert_eq!(
            transform(dir.path(), "copy.sh").unwrap(),
            Transform::Executable(dir.path().join("copy.sh"))
        );
        assert!(transform(dir.path(), "pkg.other.Copy").is_err());
        assert!(transform(dir.path(), "../copy.sh").is_err());
    }
}
