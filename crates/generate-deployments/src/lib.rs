//! `generate-deployments`: reads the deploy and control tags of each service's git repository
//! (service.yaml's `git_url`) and writes `<soa_dir>/<service>/deployments.json`, byte-identical
//! to PaaSTA's, atomically and only when its content changed. stdout: one JSON line per service.
//!
//! With `--all`, services are processed by a pool of workers (one per core by default): each
//! costs one short git process, and a master runs this for every service every minute.

use anyhow::{Context, Result};
use clap::Parser;
use soa::deployments::{self, Deployments, Target};
use soa::git;
use soa::{Problem, Service, SystemConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  generate-deployments -d /nail/etc/services -s shopfront
  generate-deployments --all -v
  generate-deployments -s shopfront -o - | jq .v2.deployments
  generate-deployments --all --dry-run | jq -r 'select(.changed) | .service'";

/// Turn the deploy and control tags of service repositories into deployments.json.
///
/// For each instance of the service (every marathon, chronos and adhoc file of the clusters the
/// system config lists), the latest `paasta-<deploy_group>-<timestamp>-deploy` tag names the
/// image to run, and `paasta-<cluster>.<instance>-<timestamp>-<start|stop>` tags pointing at that
/// same commit set the desired state. The file is written atomically and only when its content
/// changed.
#[derive(Debug, Parser)]
#[command(name = "generate-deployments", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The soa-configs root.
    #[arg(short = 'd', long, env = "SOA_DIR", default_value = soa::service::DEFAULT_SOA_DIR, value_name = "SOA_DIR")]
    pub soa_dir: PathBuf,

    /// The service to generate deployments.json for.
    #[arg(
        short = 's',
        long,
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub service: Option<String>,

    /// Generate for every service of the soa-configs root.
    #[arg(long)]
    pub all: bool,

    /// Write the file here instead of <SOA_DIR>/<SERVICE>/deployments.json ('-': stdout, in
    /// place of the summary line).
    #[arg(short = 'o', long, value_name = "FILE", requires = "service")]
    pub output: Option<PathBuf>,

    /// Say what is done for each service on stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Compute and report, but write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Services processed at once with --all (default: the number of cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Seconds to wait for a remote git repository before giving up on it.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub git_timeout: u64,
}

/// Extra man page sections: (title, body). Body lines `term\tdefinition` become tagged paragraphs.
pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "EXIT STATUS",
        "0\tevery service's deployments.json is up to date (written, or already equal)\n\
         1\ta service's soa-configs could not be read (invalid YAML, a bad deploy_group, no git_url); the others were still processed\n\
         2\ta git repository could not be read, or a file could not be written; the existing file is left untouched",
    ),
    (
        "FILES",
        "<SOA_DIR>/<SERVICE>/deployments.json\tthe file written; a temporary .deployments.json-* beside it is renamed over it\n\
         <SOA_DIR>/<SERVICE>/service.yaml\tgit_url: the repository whose tags are read (a path, file://, ssh:// or scp-like URL)\n\
         $PAASTA_SYSTEM_CONFIG_DIR/*.json\tclusters: the clusters whose instance files are read (default /etc/paasta)",
    ),
    (
        "ENVIRONMENT",
        "SOA_DIR\tthe soa-configs root when no flag gives it (default /nail/etc/services)\n\
         PAASTA_SYSTEM_CONFIG_DIR\tthe system config directory (default /etc/paasta)",
    ),
    ("EXAMPLES", EXAMPLES),
];

/// The result for one service.
struct Outcome {
    service: String,
    result: Result<Done, Failure>,
}

struct Done {
    path: PathBuf,
    changed: bool,
    deploy_groups: Vec<String>,
    rendered: String,
}

enum Failure {
    /// The service's configs are wrong: exit 1.
    Config(String),
    /// git or the file system failed: exit 2.
    Error(String),
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let system =
        SystemConfig::load(&soa::system::default_dir()).context("reading the system config")?;
    let clusters = system.clusters()?;
    let services = match &cli.service {
        Some(s) => vec![s.clone()],
        None => soa::service::list_services(&cli.soa_dir)
            .with_context(|| format!("listing the services of {}", cli.soa_dir.display()))?,
    };
    let timeout = Duration::from_secs(cli.git_timeout);
    let workers = cli
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, services.len().max(1));

    // Services are taken in order (FIFO) by a pool of `workers`; each line is printed in
    // service order as soon as every service before it is done, so output streams.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .context("starting the worker threads")?;
    let results: Vec<Mutex<Option<Outcome>>> = services.iter().map(|_| Mutex::new(None)).collect();
    let printed = Mutex::new((0usize, 0u8)); // (next index to print, worst exit status)
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    pool.scope_fifo(|scope| {
        for (i, name) in services.iter().enumerate() {
            let (cli, clusters, results, printed, failed, template) = (
                &cli,
                clusters.as_deref(),
                &results,
                &printed,
                &failed,
                system.git_url_template(),
            );
            scope.spawn_fifo(move |_| {
                let outcome = Outcome {
                    service: name.clone(),
                    result: one_service(cli, clusters, template, name, timeout),
                };
                *results[i].lock().expect("no poisoning") = Some(outcome);
                let mut p = printed.lock().expect("no poisoning");
                while p.0 < results.len() {
                    let Some(o) = results[p.0].lock().expect("no poisoning").take() else {
                        break;
                    };
                    match report(cli, &o) {
                        Ok(code) => p.1 = p.1.max(code),
                        Err(e) => {
                            failed.lock().expect("no poisoning").get_or_insert(e);
                        }
                    }
                    p.0 += 1;
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().expect("no poisoning") {
        return Err(e);
    }
    let worst = printed.into_inner().expect("no poisoning").1;
    Ok(ExitCode::from(worst))
}

/// Prints one service's line; returns its exit status.
fn report(cli: &Cli, o: &Outcome) -> Result<u8> {
    match &o.result {
        Ok(done) => {
            if cli.verbose {
                let what = match (done.changed, cli.dry_run) {
                    (false, _) => "up to date",
                    (true, true) => "would write",
                    (true, false) => "wrote",
                };
                eprintln!(
                    "{}: {what} {} ({} deploy groups)",
                    o.service,
                    done.path.display(),
                    done.deploy_groups.len()
                );
            }
            if cli.output.as_deref() == Some(Path::new("-")) {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                out.write_all(done.rendered.as_bytes())?;
                out.write_all(b"\n")?;
                return Ok(0);
            }
            cli::print_json_line(&Line::Written {
                service: &o.service,
                path: &done.path,
                changed: done.changed,
                deploy_groups: &done.deploy_groups,
            })?;
            Ok(0)
        }
        Err(f) => {
            let (msg, code) = match f {
                Failure::Config(m) => (m, 1),
                Failure::Error(m) => (m, 2),
            };
            eprintln!("generate-deployments: {}: {msg}", o.service);
            cli::print_json_line(&Line::Failed {
                service: &o.service,
                error: msg,
            })?;
            Ok(code)
        }
    }
}

/// One line of stdout per service.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Line<'a> {
    Written {
        service: &'a str,
        path: &'a Path,
        changed: bool,
        deploy_groups: &'a [String],
    },
    Failed {
        service: &'a str,
        error: &'a str,
    },
}

fn config_failure(problems: Vec<Problem>) -> Failure {
    Failure::Config(
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn one_service(
    cli: &Cli,
    clusters: Option<&[String]>,
    git_url_template: &str,
    name: &str,
    timeout: Duration,
) -> Result<Done, Failure> {
    let service = Service::load(&cli.soa_dir, name).map_err(|e| match e {
        soa::Error::Io { .. } => Failure::Error(e.to_string()),
        other => Failure::Config(other.to_string()),
    })?;
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for file in service.files_in(clusters) {
        for (instance, _) in file.instances() {
            match service.deploy_group_of(file, &instance) {
                Ok(deploy_group) => targets.push(Target {
                    cluster: file.cluster.clone(),
                    instance,
                    deploy_group,
                }),
                Err(p) => problems.push(p),
            }
        }
    }
    if !problems.is_empty() {
        return Err(config_failure(problems));
    }
    let url = service
        .git_url(git_url_template)
        .map_err(|p| config_failure(vec![p]))?;
    let refs = git::list_tags(&url, timeout).map_err(|e| Failure::Error(e.to_string()))?;
    let generated = deployments::generate(name, &targets, &refs);
    let rendered = generated.render();
    let deploy_groups = generated
        .deployments
        .iter()
        .map(|(g, _)| g.clone())
        .collect();

    let to_stdout = cli.output.as_deref() == Some(Path::new("-"));
    let path = match &cli.output {
        Some(p) if !to_stdout => p.clone(),
        _ => deployments::path_for(&cli.soa_dir, name),
    };
    let changed = match std::fs::read_to_string(&path) {
        Ok(text) => !Deployments::parse(&path, &text).is_ok_and(|old| old.same_content(&generated)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(Failure::Error(format!("{}: {e}", path.display()))),
    };
    if changed && !cli.dry_run && !to_stdout {
        soa::fsutil::write_atomic(&path, rendered.as_bytes(), ".deployments.json-")
            .map_err(|e| Failure::Error(e.to_string()))?;
    }
    Ok(Done {
        path,
        changed,
        deploy_groups,
        rendered,
    })
}
