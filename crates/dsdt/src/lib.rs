//! `dsdt`: Disdat's command line (docs/disdat.md §6) over the bundle crate, on the same
//! `~/.config/disdat` and `.disdat/` trees Python Disdat uses, so either tool sees the other's
//! bundles. Text output is Disdat's (scripts parse it); `--json` gives JSON lines instead.
//! Unlike Disdat, a failure exits non-zero (2) with a message naming the context, the bundle or
//! the file. `dsdt <other>` runs `dsdt-<other>` found beside dsdt (or on PATH), as git does.

use anyhow::{anyhow, bail, Result};
use bundle::pb::{HyperFrame, Presentation};
use bundle::remote::Remote;
use bundle::values::Value;
use bundle::{Context, Disdat, Filter};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

pub mod entrypoint;

const EXAMPLES: &str = "\
Examples:
  dsdt init && dsdt context examples && dsdt switch examples
  dsdt add -t team:data scores scores.csv
  dsdt commit scores
  dsdt ls -v -p
  dsdt cat scores
  dsdt ls --json | jq -r .uuid";

/// Versioned data bundles in contexts, as Disdat keeps them.
#[derive(Debug, Parser)]
#[command(name = "dsdt", version, after_help = EXAMPLES, allow_external_subcommands = true)]
pub struct Cli {
    /// The AWS profile for remotes (as AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,

    /// Say more on stderr.
    #[arg(long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the Disdat config (~/.config/disdat/disdat.cfg).
    Init,
    /// Make the context [REMOTE/]LOCAL, or with no argument list the contexts.
    Context {
        /// [REMOTE_CONTEXT/]LOCAL_CONTEXT
        name: Option<String>,
    },
    /// Make LOCAL the current context.
    Switch { name: String },
    /// Make a bundle NAME of the files (a directory: every file below it).
    Add {
        name: String,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A tag KEY:VALUE (repeatable).
        #[arg(short = 't', long = "tag", value_name = "KEY:VALUE")]
        tags: Vec<String>,
    },
    /// Commit the latest bundle NAME (or the bundle -u UUID).
    Commit {
        name: Option<String>,
        #[command(flatten)]
        pick: Pick,
    },
    /// List bundles: names, or with -v one line each.
    Ls(LsArgs),
    /// Print the latest bundle's value (its files' paths).
    Cat {
        name: Option<String>,
        #[command(flatten)]
        pick: Pick,
        /// One JSON line instead of Disdat's text.
        #[arg(long)]
        json: bool,
    },
    /// Remove the latest bundle NAME (or -u UUID; --all: every version; --old: all but the
    /// latest).
    Rm {
        name: Option<String>,
        #[command(flatten)]
        pick: Pick,
        #[arg(long, conflicts_with = "old")]
        all: bool,
        #[arg(long)]
        old: bool,
    },
    /// Bind the current context to remote context REMOTE at URL (s3://BUCKET/PREFIX, or
    /// file:///DIRECTORY).
    Remote { remote: String, url: String },
    /// Push the committed bundle NAME (or -u UUID) to the remote; with neither, every committed
    /// bundle's files the remote lacks.
    Push {
        name: Option<String>,
        #[command(flatten)]
        pick: Pick,
        /// One JSON line instead of Disdat's text.
        #[arg(long)]
        json: bool,
    },
    /// Pull the remote's bundles (NAME or -u UUID: that one) without their data; -l fetches
    /// the data too.
    Pull {
        name: Option<String>,
        #[command(flatten)]
        pick: Pick,
        /// Fetch the bundles' data files as well.
        #[arg(short = 'l', long)]
        localize: bool,
        /// One JSON line instead of Disdat's text.
        #[arg(long)]
        json: bool,
    },
    /// The lineage of the bundle UUID, then of what it depends on, breadth first.
    Lineage {
        uuid: String,
        /// How many levels of dependencies to follow.
        #[arg(short = 'd', long, default_value_t = 3)]
        depth: usize,
        /// Follow the dependencies (they always are; kept for Disdat's command line).
        #[arg(short = 'f', long)]
        follow: bool,
        /// JSON lines, one per bundle reached, instead of Disdat's text.
        #[arg(long)]
        json: bool,
    },
    /// The runtime inside a transform's image (its entrypoint, which dsdt dockerize sets):
    /// pull the input bundle, run the transform, commit and push the output bundle.
    Entrypoint(entrypoint::EntrypointArgs),
    /// Run `dsdt-<name>` (e.g. `dsdt run` runs dsdt-run).
    #[command(external_subcommand)]
    External(Vec<String>),
}

/// Which bundle: by uuid, and by tags.
#[derive(Debug, Args)]
pub struct Pick {
    #[arg(short = 'u', long = "uuid")]
    pub uuid: Option<String>,
    /// Only bundles with tag KEY:VALUE (repeatable).
    #[arg(short = 't', long = "tag", value_name = "KEY:VALUE")]
    pub tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// A bundle name or pattern (`.` one character, `.*` any run).
    pub names: Vec<String>,
    /// One line per bundle: name, processing name, owner, date, committed, uuid.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// With -v: the tags.
    #[arg(short = 'p', long = "print-tags")]
    pub print_tags: bool,
    /// With -v: the arguments (__param tags).
    #[arg(short = 'a', long = "print-args")]
    pub print_args: bool,
    /// Committed bundles only.
    #[arg(short = 'c', long, conflicts_with = "uncommitted")]
    pub committed: bool,
    /// Uncommitted bundles only.
    #[arg(long)]
    pub uncommitted: bool,
    /// The latest bundle of each name only.
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Intermediate outputs only (bundles without the root_task tag).
    #[arg(short = 'i', long)]
    pub intermediates: bool,
    /// Outputs of root tasks only (tag root_task=True).
    #[arg(short = 'r', long)]
    pub roots: bool,
    #[command(flatten)]
    pub pick: Pick,
    /// JSON lines, one per bundle.
    #[arg(long)]
    pub json: bool,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "EXIT STATUS",
        "0\tdone (a bundle already committed, a context that exists: said, not an error)\n\
         2\tan error: no Disdat config, unknown context or bundle, an unreadable or malformed file\n\
         74\tdsdt entrypoint: the run failed (the reason is on stderr); no output bundle was made\n\
         other\tdsdt NAME: the status of dsdt-NAME",
    ),
    (
        "FILES",
        "~/.config/disdat/disdat.cfg\tthe config ([core] meta_dir_root, default ~)\n\
         <meta_dir_root>/.disdat/fs.json\tthe current context\n\
         <meta_dir_root>/.disdat/context/<NAME>/ctxt.json\ta context and its remote\n\
         <meta_dir_root>/.disdat/context/<NAME>/ctxt.db\tthe index (sqlite) Python Disdat shares\n\
         <meta_dir_root>/.disdat/context/<NAME>/objects/<UUID>/\ta bundle: <UUID>_hframe.pb, its frames, its files",
    ),
    (
        "ENVIRONMENT",
        "HOME\twhere ~/.config/disdat is\n\
         LOGNAME, USER\tthe owner of the bundles made",
    ),
    ("EXAMPLES", EXAMPLES),
];

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("HOME is not set: Disdat's config lives in ~/.config/disdat"))
}

/// `KEY:VALUE` words as pairs; an error naming the word without a colon.
pub fn tags(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once(':')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("-t {p:?}: expected KEY:VALUE"))
        })
        .collect()
}

fn current(d: &Disdat) -> Result<String> {
    d.current()?
        .ok_or_else(|| anyhow!(bundle::Error::NoCurrentContext))
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let home = home()?;
    if let Command::Init = cli.command {
        return match Disdat::init(&home)? {
            Ok(_) => Ok(ExitCode::SUCCESS),
            Err(dir) => bail!("DisDat already initialized in {}.", dir.display()),
        };
    }
    let command = match cli.command {
        Command::External(args) => return external(&args),
        Command::Entrypoint(args) => return Ok(entrypoint::run(&home, args)),
        other => other,
    };
    let cli = Cli { command, ..cli };
    let d = Disdat::locate(&home)?;
    match cli.command {
        Command::Init | Command::External(_) | Command::Entrypoint(_) => {
            unreachable!("handled above")
        }
        Command::Context { name: None } => {
            let cur = d.current()?;
            for c in d.contexts()? {
                let url = c
                    .remote_url
                    .as_deref()
                    .map(|u| u.strip_suffix("/context").unwrap_or(u).to_string());
                println!(
                    "{}\t{}\t[{}@{}]",
                    if cur.as_deref() == Some(c.local.as_str()) {
                        "*"
                    } else {
                        ""
                    },
                    c.local,
                    c.remote.as_deref().unwrap_or("None"),
                    url.as_deref().unwrap_or("None")
                );
            }
        }
        Command::Context { name: Some(name) } => {
            let (remote, local) = match name.split_once('/') {
                Some((r, l)) => (Some(r), l),
                None => (None, name.as_str()),
            };
            if d.create_context(remote, local)? {
                println!(
                    "Disdat created data context {}/{local} at object dir {}.",
                    remote.unwrap_or("None"),
                    d.context_dir(local).join("objects").display()
                );
            } else {
                println!("The context '{local}' already exists.");
            }
        }
        Command::Switch { name } => {
            if d.current()?.as_deref() == Some(name.as_str()) {
                println!("Disdat already within a valid data context_name {name}");
            }
            match d.info(&name) {
                Ok(_) => {
                    d.set_current(&name)?;
                    println!("Switched to context {name}");
                }
                Err(bundle::Error::NoContext(_)) => bail!(
                    "Context {name} not found.  Please create the context locally.{}",
                    d.current()?
                        .map(|c| format!(" (In context {c})"))
                        .unwrap_or_default()
                ),
                Err(e) => return Err(e.into()),
            }
        }
        Command::Add {
            name,
            paths,
            tags: t,
        } => {
            let ctx = Context::open_for_writing(&d, &current(&d)?)?;
            let hf = ctx.add(&name, &paths, &tags(&t)?)?;
            if cli.verbose {
                eprintln!("dsdt: added {} uuid {}", hf.human_name, hf.uuid);
            }
        }
        Command::Commit { name, pick } => {
            let ctx = Context::open_for_writing(&d, &current(&d)?)?;
            let filter = filter(name.clone(), &pick)?;
            let Some(mut hf) = ctx.latest(&filter)? else {
                bail!(
                    "No bundle with human name [{}] or uuid [{}] found.",
                    name.as_deref().unwrap_or("None"),
                    pick.uuid.as_deref().unwrap_or("None")
                );
            };
            if !ctx.commit(&mut hf)? {
                println!(
                    "Bundle human name [{}] uuid [{}] already committed.",
                    hf.human_name, hf.uuid
                );
            }
        }
        Command::Ls(args) => ls(&d, args)?,
        Command::Lineage {
            uuid,
            depth,
            follow: _,
            json,
        } => lineage(&d, &uuid, depth, json)?,
        Command::Remote { remote, url } => {
            let ctx = Context::open_for_writing(&d, &current(&d)?)?;
            let mut info = ctx.info.clone();
            let stored = bundle::remote::context_url(&url);
            if info.remote.as_deref() == Some(remote.as_str())
                && info.remote_url.as_deref() == Some(stored.as_str())
            {
                println!("Context already bound to remote at {url}");
                return Ok(ExitCode::SUCCESS);
            }
            let r = Remote::open(&url, &remote, cli.profile.as_deref())?;
            cli::runtime()?.block_on(r.check())?;
            if info.remote_url.is_some() {
                eprintln!(
                    "dsdt: warning: context {} was bound to {}@{}; now to {remote}@{stored}",
                    info.local,
                    info.remote.as_deref().unwrap_or("None"),
                    info.remote_url.as_deref().unwrap_or("None")
                );
            }
            info.remote = Some(remote);
            info.remote_url = Some(stored);
            d.write_info(&info)?;
        }
        Command::Push { name, pick, json } => {
            let ctx = Context::open(&d, &current(&d)?)?;
            let r = bound(&ctx, "Push", cli.profile.as_deref())?;
            let fast = name.is_none() && pick.uuid.is_none();
            let mut f = filter(name.clone(), &pick)?;
            f.committed = Some(true);
            let bundles = if fast {
                println!(
                    "Fast Push synchronizing with remote context {}@{}",
                    ctx.info.remote.as_deref().unwrap_or("None"),
                    ctx.info.remote_url.as_deref().unwrap_or("None")
                );
                ctx.find(&f)?
            } else {
                match ctx.latest(&f)? {
                    Some(hf) => vec![hf],
                    None => bail!(
                        "Push unable to find committed bundle name [{}] uuid [{}]",
                        name.as_deref().unwrap_or("None"),
                        pick.uuid.as_deref().unwrap_or("None")
                    ),
                }
            };
            let (objects, bytes) = cli::runtime()?.block_on(async {
                let plan = r.plan_push(&ctx, &bundles, fast).await?;
                if fast {
                    // Disdat says the count before copying.
                    println!("Fast push copying {} objects to S3 . . .", plan.len());
                }
                r.push(plan, &progress("push")).await
            })?;
            if fast {
                println!(
                    "Fast push completed {objects} transfers -- process pool closed and joined."
                );
            } else {
                let hf = &bundles[0];
                println!(
                    "Pushed committed bundle {} uuid {} to remote {}",
                    hf.human_name,
                    hf.uuid,
                    ctx.info.remote_url.as_deref().unwrap_or("None")
                );
            }
            if json {
                cli::print_json_line(&Transfer {
                    remote: &r.objects_url,
                    bundles: bundles.iter().map(|h| h.uuid.as_str()).collect(),
                    objects,
                    bytes: Some(bytes),
                })?;
            }
        }
        Command::Pull {
            name,
            pick,
            localize,
            json,
        } => {
            let ctx = Context::open_for_writing(&d, &current(&d)?)?;
            let r = bound(&ctx, "Pull", cli.profile.as_deref())?;
            let fast = name.is_none() && pick.uuid.is_none();
            if fast {
                println!(
                    "Fast Pull synchronizing with remote context {}@{}",
                    ctx.info.remote.as_deref().unwrap_or("None"),
                    ctx.info.remote_url.as_deref().unwrap_or("None")
                );
            }
            let f = filter(name, &pick)?;
            let want = |h: &HyperFrame| f.matches(h);
            let (pulled, objects) =
                cli::runtime()?.block_on(r.pull(&ctx, &want, localize, &progress("pull")))?;
            if fast {
                println!("Fast pull fetching {objects} objects...");
                println!(
                    "Fast pull completed {objects} transfers -- process pool closed and joined."
                );
            }
            if json {
                cli::print_json_line(&Transfer {
                    remote: &r.objects_url,
                    bundles: pulled.iter().map(|h| h.uuid.as_str()).collect(),
                    objects,
                    bytes: None,
                })?;
            }
        }
        Command::Cat { name, pick, json } => {
            let ctx = Context::open(&d, &current(&d)?)?;
            let Some(hf) = ctx.latest(&filter(name.clone(), &pick)?)? else {
                bail!(
                    "Disdat cat found no bundle with name {} or uuid {}",
                    name.as_deref().unwrap_or("None"),
                    pick.uuid.as_deref().unwrap_or("None")
                );
            };
            let frames = ctx.frames(&hf)?;
            let links = frames
                .iter()
                .all(|f| f.r#type == bundle::pb::Type::Link as i32);
            let (value, text) = if links {
                let paths: Vec<String> = ctx.link_targets(&hf)?.into_iter().flatten().collect();
                let text = value_text(&hf, &paths);
                (serde_json::json!(paths), Some(text))
            } else {
                data_value(&hf, &frames).map_err(|e| {
                    anyhow!(
                        "context {}: bundle {} ({}): {e}",
                        ctx.info.local,
                        hf.human_name,
                        hf.uuid
                    )
                })?
            };
            if json {
                cli::print_json_line(&CatRecord {
                    name: &hf.human_name,
                    uuid: &hf.uuid,
                    presentation: presentation_name(hf.presentation),
                    value,
                })?;
            } else {
                let Some(text) = text else {
                    bail!(
                        "context {}: bundle {}: its value ({}) is shown with --json only (Disdat prints it through numpy and pandas)",
                        ctx.info.local,
                        hf.human_name,
                        presentation_name(hf.presentation)
                    );
                };
                println!("{text}");
            }
        }
        Command::Rm {
            name,
            pick,
            all,
            old,
        } => {
            let ctx = Context::open_for_writing(&d, &current(&d)?)?;
            println!(
                "Disdat Context {}",
                ctx.info.remote.as_deref().unwrap_or("None")
            );
            println!("On local branch {}", ctx.info.local);
            let found = ctx.find(&filter(name, &pick)?)?;
            let doomed: Vec<&HyperFrame> = if all {
                found.iter().collect()
            } else if old {
                found.iter().skip(1).collect()
            } else {
                found.iter().take(1).collect()
            };
            if doomed.is_empty() {
                println!("No bundles to remove.");
            }
            for hf in doomed {
                println!(
                    "Removing {} bundle HumanName[{}] ProcName[{}] Timestamp[{}] Owner[{}] uuid[{}] lineage[[]] presentation[{}]",
                    if all || old { "old" } else { "latest" },
                    hf.human_name,
                    hf.processing_name,
                    pyjson::float_repr(hf.creation_date()),
                    hf.owner,
                    hf.uuid,
                    hf.presentation
                );
                ctx.remove(hf)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The context's remote; Disdat's words when it has none.
fn bound(ctx: &Context, what: &str, profile: Option<&str>) -> Result<Remote> {
    match (&ctx.info.remote, &ctx.info.remote_url) {
        (Some(remote), Some(url)) => Ok(Remote::open(
            url.strip_suffix("/context").unwrap_or(url),
            remote,
            profile,
        )?),
        _ => bail!(
            "{what} cannot execute.  Local context {} on remote {} not bound.",
            ctx.info.local,
            ctx.info.remote.as_deref().unwrap_or("None")
        ),
    }
}

/// Progress on stderr, at most about once a second, and at the end.
fn progress(what: &'static str) -> impl Fn(usize, usize) {
    let last = std::cell::Cell::new(std::time::Instant::now());
    move |done, total| {
        if done == total || last.get().elapsed() >= std::time::Duration::from_secs(1) {
            eprintln!("dsdt: {what}: {done}/{total} objects");
            last.set(std::time::Instant::now());
        }
    }
}

/// `--json` of push and pull.
#[derive(Serialize)]
struct Transfer<'a> {
    remote: &'a str,
    /// The bundles pushed or pulled (uuids).
    bundles: Vec<&'a str>,
    /// Objects transferred.
    objects: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
}

fn filter(name: Option<String>, pick: &Pick) -> Result<Filter> {
    Ok(Filter {
        name,
        uuid: pick.uuid.clone(),
        tags: tags(&pick.tags)?,
        committed: None,
    })
}

fn presentation_name(p: i32) -> &'static str {
    match Presentation::try_from(p) {
        Ok(Presentation::Hf) => "hf",
        Ok(Presentation::Df) => "df",
        Ok(Presentation::Scalar) => "scalar",
        Ok(Presentation::Tensor) => "tensor",
        Ok(Presentation::Row) => "row",
        Ok(Presentation::Default) => "default",
        Ok(Presentation::Json) => "json",
        Err(_) => "unknown",
    }
}

/// What Disdat's `cat` prints for a bundle of files.
fn value_text(hf: &HyperFrame, paths: &[String]) -> String {
    match (Presentation::try_from(hf.presentation), paths) {
        (Ok(Presentation::Scalar), [one]) => one.clone(),
        _ => bundle::pyrepr::string_array(paths),
    }
}

#[derive(Serialize)]
struct CatRecord<'a> {
    name: &'a str,
    uuid: &'a str,
    presentation: &'static str,
    /// Link bundles: the files' paths (or URLs); data bundles: the values.
    value: serde_json::Value,
}

/// Python's `print()` of one numpy scalar.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) if f.is_nan() => "nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
        Value::Float(f) => pyjson::float_repr(*f),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Str(s) => s.clone(),
    }
}

/// A data bundle's value as JSON, and as Disdat prints it where dsdt can say it the same way
/// (a scalar, None, a list of strings or of integers); other shapes are JSON only.
fn data_value(
    hf: &HyperFrame,
    frames: &[bundle::pb::Frame],
) -> std::result::Result<(serde_json::Value, Option<String>), String> {
    let mut columns = Vec::new();
    for f in frames {
        let values = bundle::values::frame_values(f)
            .map_err(|e| format!("frame {}: {e}", f.name))?
            .ok_or_else(|| format!("frame {} holds neither values nor links", f.name))?;
        columns.push((f.name.as_str(), values));
    }
    let list = |vs: &[Value]| serde_json::Value::Array(vs.iter().map(Value::to_json).collect());
    let presentation = Presentation::try_from(hf.presentation).ok();
    Ok(match (presentation, columns.as_slice()) {
        (Some(Presentation::Scalar), [(_, vs)]) if vs.len() == 1 => {
            (vs[0].to_json(), Some(scalar_text(&vs[0])))
        }
        (Some(Presentation::Json), [(_, vs)]) => {
            let text = match vs.first() {
                Some(Value::Str(t)) => t.clone(),
                _ => return Err("a JSON bundle without its text".into()),
            };
            let parsed: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("its JSON does not parse: {e}"))?;
            let shown = parsed.is_null().then(|| "None".to_string());
            (parsed, shown)
        }
        (Some(Presentation::Tensor), [(_, vs)]) => {
            let text = if vs.iter().all(|v| matches!(v, Value::Str(_))) {
                let items: Vec<String> = vs.iter().map(scalar_text).collect();
                Some(bundle::pyrepr::string_array(&items))
            } else if vs
                .iter()
                .all(|v| matches!(v, Value::Int(_) | Value::UInt(_)))
            {
                let items: Vec<String> = vs.iter().map(scalar_text).collect();
                Some(bundle::pyrepr::int_array(&items))
            } else {
                None
            };
            (list(vs), text)
        }
        (_, [(name, vs)]) if name.starts_with("unnamed") => (list(vs), None),
        (_, cols) => (
            serde_json::Value::Object(
                cols.iter()
                    .map(|(name, vs)| (name.to_string(), list(vs)))
                    .collect(),
            ),
            None,
        ),
    })
}

#[derive(Serialize)]
struct LsRecord<'a> {
    name: &'a str,
    uuid: &'a str,
    processing_name: &'a str,
    owner: &'a str,
    /// UTC, as the index keeps it.
    creation_date: String,
    committed: bool,
    tags: serde_json::Map<String, serde_json::Value>,
}

fn ls(d: &Disdat, args: LsArgs) -> Result<()> {
    if args.names.len() > 1 {
        bail!("dsdt ls takes zero or one bundle as arguments.");
    }
    let ctx = Context::open(d, &current(d)?)?;
    let mut filter = filter(args.names.first().cloned(), &args.pick)?;
    filter.committed = match (args.committed, args.uncommitted) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    // As Disdat: -r alone keeps the roots, -i alone the others, both keep everything.
    if args.roots && !args.intermediates {
        filter.tags.push(("root_task".into(), "True".into()));
    }
    let mut found = ctx.find(&filter)?;
    if args.intermediates && !args.roots {
        found.retain(|h| h.tag("root_task").is_none());
    }
    if args.latest {
        let mut seen = std::collections::HashSet::new();
        found.retain(|h| seen.insert(h.human_name.clone()));
    }
    if args.json {
        for h in &found {
            cli::print_json_line(&LsRecord {
                name: &h.human_name,
                uuid: &h.uuid,
                processing_name: &h.processing_name,
                owner: &h.owner,
                creation_date: bundle::index::date_text(h.creation_date()),
                committed: h.committed(),
                tags: h
                    .tags
                    .iter()
                    .map(|t| (t.k.clone(), serde_json::Value::String(t.v.clone())))
                    .collect(),
            })?;
        }
        return Ok(());
    }
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !args.verbose {
        let mut seen = std::collections::HashSet::new();
        for h in &found {
            if seen.insert(h.human_name.as_str()) {
                writeln!(out, "{}", h.human_name)?;
            }
        }
        return Ok(out.flush()?);
    }
    writeln!(
        out,
        "{:20}\t{:20}\t{:8}\t{:18}\t{:8}\t{:40}\tTAGS",
        "NAME", "PROC_NAME", "OWNER", "DATE", "COMMITTED", "UUID"
    )?;
    for h in &found {
        let date = chrono::DateTime::from_timestamp(h.creation_date() as i64, 0)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%m-%d-%y %H:%M:%S ")
                    .to_string()
            })
            .unwrap_or_default();
        let mut line = format!(
            "{:20}\t{:20}\t{:8}\t{:18}\t{:8}\t{:40}",
            h.human_name,
            h.processing_name,
            h.owner,
            date,
            if h.committed() { "True" } else { "False" },
            h.uuid
        );
        if args.print_tags {
            let shown: Vec<String> = h
                .tags
                .iter()
                .filter(|t| t.k != "committed" && !t.k.starts_with("__param."))
                .map(|t| format!("[{}]:[{}]", t.k, t.v))
                .collect();
            line.push_str(&shown.join(" "));
        }
        writeln!(out, "{line}")?;
        if args.print_args {
            let params: Vec<String> = h
                .tags
                .iter()
                .filter_map(|t| {
                    t.k.strip_prefix("__param.")
                        .map(|k| format!("[{k}]:[{}]", t.v))
                })
                .collect();
            if !params.is_empty() {
                writeln!(out, "\t ARGS: {}", params.join(" "))?;
            }
        }
    }
    Ok(out.flush()?)
}

/// One bundle reached by `lineage`.
#[derive(Serialize)]
struct LineageRecord<'a> {
    depth: usize,
    uuid: &'a str,
    /// None (null) when the bundle is not in this context.
    lineage: Option<LineageFields<'a>>,
}

#[derive(Serialize)]
struct LineageFields<'a> {
    processing_name: &'a str,
    creation_date: f64,
    code_repo: &'a str,
    code_hash: &'a str,
    code_method: &'a str,
    code_branch: &'a str,
    start_time: f64,
    stop_time: f64,
    depends_on: Vec<&'a str>,
}

/// Where a commit of `repo` is seen, as Disdat guesses it (`git@site:user/project.git` or an
/// https URL).
fn commit_url(repo: &str, hash: &str) -> String {
    match repo.split('@').collect::<Vec<_>>()[..] {
        [_, site] => match site.split(':').collect::<Vec<_>>()[..] {
            [site, project] => format!(
                "https://{site}/{}/commit/{hash}",
                project.replace(".git", "")
            ),
            _ => "unknown".into(),
        },
        [one] => format!("{}/commit/{hash}", one.replace(".git", "")),
        _ => "unknown".into(),
    }
}

fn lineage(d: &Disdat, uuid: &str, max_depth: usize, json: bool) -> Result<()> {
    let ctx = Context::open(d, &current(d)?)?;
    let find = |u: &str| -> Result<Option<HyperFrame>> {
        ctx.latest(&Filter {
            uuid: Some(u.to_string()),
            ..Default::default()
        })
        .map_err(Into::into)
    };
    let Some(first) = find(uuid)? else {
        bail!("context {}: no bundle with uuid {uuid}", ctx.info.local);
    };
    let mut queue = std::collections::VecDeque::from([(0usize, uuid.to_string(), Some(first))]);
    while let Some((depth, u, hf)) = queue.pop_front() {
        if depth > max_depth {
            break;
        }
        let l = hf.as_ref().and_then(|h| h.lineage.clone());
        if let Some(l) = &l {
            for dep in &l.depends_on {
                queue.push_back((depth + 1, dep.hframe_uuid.clone(), find(&dep.hframe_uuid)?));
            }
        }
        if json {
            cli::print_json_line(&LineageRecord {
                depth,
                uuid: &u,
                lineage: l.as_ref().map(|l| LineageFields {
                    processing_name: &l.hframe_proc_name,
                    creation_date: l.creation_date,
                    code_repo: &l.code_repo,
                    code_hash: &l.code_hash,
                    code_method: &l.code_method,
                    code_branch: &l.code_branch,
                    start_time: l.start_time,
                    stop_time: l.stop_time,
                    depends_on: l
                        .depends_on
                        .iter()
                        .map(|d| d.hframe_uuid.as_str())
                        .collect(),
                }),
            })?;
            continue;
        }
        let Some(l) = l else {
            println!("No lineage found for UUID {u}");
            continue;
        };
        let ind = "\t".repeat(depth);
        println!("{ind}------ Lineage @ depth {depth} ----- ");
        println!("{ind}processing name: {}", l.hframe_proc_name);
        println!("{ind}uuid: {}", l.hframe_uuid);
        println!(
            "{ind}creation date: {}",
            bundle::pyrepr::datetime(l.creation_date, true)
        );
        println!("{ind}code repo: {}", l.code_repo);
        println!("{ind}code hash: {}", l.code_hash);
        println!("{ind}code method: {}", l.code_method);
        println!(
            "{ind}git commit URL: {}",
            commit_url(&l.code_repo, &l.code_hash)
        );
        println!("{ind}code branch: {}", l.code_branch);
        println!(
            "{ind}Start {} Stop {} Duration {}",
            pyjson::float_repr(l.start_time),
            pyjson::float_repr(l.stop_time),
            pyjson::float_repr(l.stop_time - l.start_time)
        );
        println!();
    }
    Ok(())
}

/// `dsdt NAME ARGS…` for a command dsdt does not have: `dsdt-NAME ARGS…`, found beside this
/// binary first, then on PATH; its exit status is dsdt's.
fn external(args: &[String]) -> Result<ExitCode> {
    let (name, rest) = args
        .split_first()
        .ok_or_else(|| anyhow!("no command given"))?;
    let program = format!("dsdt-{name}");
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(&program)))
        .filter(|p| p.is_file());
    let target = beside.unwrap_or_else(|| PathBuf::from(&program));
    let status = std::process::Command::new(&target)
        .args(rest)
        .status()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!("unknown command {name:?}: no {program} beside dsdt or on PATH")
            } else {
                anyhow!("running {}: {e}", target.display())
            }
        })?;
    Ok(match status.code() {
        Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
        None => ExitCode::from(cli::EXIT_ERROR),
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn tags_need_a_colon() {
        assert_eq!(
            super::tags(&["a:b:c".into()]).unwrap(),
            [("a".to_string(), "b:c".to_string())]
        );
        assert!(super::tags(&["ab".into()]).is_err());
    }
}
