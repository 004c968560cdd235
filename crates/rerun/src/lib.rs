//! `rerun`: runs a scheduled job once, now, with its command's time variables as at a given
//! date (the seed's `paasta rerun`), typically after a run for that date failed.
//!
//! The run is a job of its own, named `tmp-<UTC time of the rerun> <service> <instance>`
//! (docs/paasta.md §7): it leaves the job's schedule alone, does not count as the job's run
//! and does not trigger the job's children. `-t graph` reruns the job with every job related to
//! it through parents (ancestors, descendants and theirs), in an order where parents come first,
//! each one only after its parents' reruns succeeded; rerun waits for each to end.
//!
//! Reads: soa-configs, deployments.json (the image the job runs now), the system config.
//! Acts on: the cluster through a backend (docker: this host's engine). stdout: one JSON record
//! per run.

use anyhow::{anyhow, bail, Result};
use chrono::{NaiveDateTime, Utc};
use clap::{Parser, ValueEnum};
use cluster::spec::{self, RunOf};
use cluster::{Backend, RunKind};
use serde::Serialize;
use soa::deployments::Deployments;
use soa::select::Selected;
use soa::{InstanceType, SystemConfig};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

mod chronos;

const EXAMPLES: &str = "\
Examples:
  rerun -s example_service -i nightly -d 2026-11-20T03:00:00
  rerun -s example_service -i nightly -d 2026-11-20T03:00:00 -t graph   # and its children
  rerun -s example_service -i nightly -d 2026-11-20T03:00:00 --dry-run | jq -r .command";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RerunType {
    /// The job alone.
    Instance,
    /// The job and every job related to it through parents, parents first.
    Graph,
}

/// Run a scheduled job once now, as at a past date.
///
/// The run is a temporary job (tmp-<time> <service> <instance>) with the job's command
/// interpolated at the date: the job's own schedule is left alone and its children are not
/// triggered. With -t graph, the job's related jobs are rerun too, each after its parents.
#[derive(Debug, Parser)]
#[command(name = "rerun", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The job's service.
    #[arg(short = 's', long)]
    pub service: String,

    /// The job (a chronos instance).
    #[arg(short = 'i', long)]
    pub instance: String,

    /// The clusters to rerun it in (default: the system config's cluster).
    #[arg(
        short = 'c',
        long = "clusters",
        value_delimiter = ',',
        value_name = "CLUSTER[,…]"
    )]
    pub clusters: Vec<String>,

    /// The soa-configs root.
    #[arg(short = 'y', long = "soa-dir", env = "SOA_DIR", default_value = soa::service::DEFAULT_SOA_DIR)]
    pub soa_dir: PathBuf,

    /// The date to run as (UTC): the command's time variables take their values at it.
    /// Required when the command has time variables.
    #[arg(
        short = 'd',
        long = "execution-date",
        value_name = "YYYY-MM-DDTHH:MM:SS"
    )]
    pub execution_date: Option<String>,

    /// The job alone, or with its related jobs.
    #[arg(
        short = 't',
        long = "rerun-type",
        value_enum,
        default_value = "instance"
    )]
    pub rerun_type: RerunType,

    /// Rerun a job even if it is disabled.
    #[arg(short = 'f', long = "force-disabled")]
    pub force_disabled: bool,

    /// Wait for the run to end and report its result (-t graph always waits).
    #[arg(long)]
    pub wait: bool,

    /// Print the record(s) without starting anything.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub backend: cli::BackendArgs,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "OUTPUT",
        "One JSON record per run: {cluster, service, instance, job (the temporary name), kind \
         (rerun), date, command (interpolated), run (the container; null with --dry-run)}; once \
         waited for, also exit_code and result (succeeded, failed, or not_run with a reason). On Chronos (--backend \
         chronos:URL) the run is the temporary job itself (run names it; no exit_code), and \
         --dry-run prints the requests instead: {method, path, body}, one per job.",
    ),
    (
        "EXIT STATUS",
        "0\tthe run(s) started (and, when waited for, succeeded)\n\
         1\ta run failed (-t graph: its dependents were not run)\n\
         2\tnothing was run: unknown job, a disabled job without -f, a command with time \
         variables and no -d, a bad date, no deployment, an unreachable Docker engine",
    ),
    (
        "FILES",
        "<SOA_DIR>/<SERVICE>/chronos-<CLUSTER>.yaml\tthe jobs\n\
         <SOA_DIR>/<SERVICE>/deployments.json\tthe image each job runs\n\
         $PAASTA_SYSTEM_CONFIG_DIR/*.json\tcluster, docker_registry, volumes",
    ),
    (
        "ENVIRONMENT",
        "SOA_DIR\tthe soa-configs root (-y)\n\
         PAASTA_SYSTEM_CONFIG_DIR\tthe system config directory (default /etc/paasta)\n\
         DOCKER_HOST\tthe Docker engine (default unix:///var/run/docker.sock)",
    ),
    ("EXAMPLES", EXAMPLES),
];

/// `-d`: a date and time (UTC); a date alone means its midnight.
pub fn parse_date(s: &str) -> Result<i64> {
    let parsed = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
        });
    parsed.map(|t| t.and_utc().timestamp()).map_err(|_| {
        anyhow!("-d {s:?} is not a date: expected YYYY-MM-DDTHH:MM:SS, e.g. 2026-11-20T03:00:00")
    })
}

/// The temporary job name's time: Python's isoformat without ':' and '.'.
fn tmp_stamp(now: chrono::DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H%M%S%6f").to_string()
}

/// One line of stdout: a rerun started (or, with --dry-run, that would be), and how it ended
/// when rerun waited for it.
#[derive(Debug, Serialize)]
pub struct Record {
    pub cluster: String,
    pub service: String,
    pub instance: String,
    /// The temporary job's name.
    pub job: String,
    pub kind: RunKind,
    /// The date it ran as (-d), UTC.
    pub date: Option<String>,
    /// The command with its time variables filled in; None when the job runs its image's
    /// entrypoint.
    pub command: Option<String>,
    /// The run's name on the cluster; None when nothing was started.
    pub run: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<RunResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Record {
    /// The rerun `job` of `config` in `cluster`, as at `date`, not started yet.
    fn new(
        cluster: &str,
        config: &soa::InstanceConfig,
        job: &str,
        date: Option<i64>,
        command: Option<String>,
    ) -> Record {
        Record {
            cluster: cluster.to_string(),
            service: config.service.clone(),
            instance: config.instance.clone(),
            job: job.to_string(),
            kind: RunKind::Rerun,
            date: date.map(soa::jobs::time_text),
            command,
            run: None,
            exit_code: None,
            result: None,
            reason: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    Succeeded,
    Failed,
    /// A parent's rerun did not succeed, so this one was not started.
    NotRun,
}

/// One job of the rerun, resolved.
struct Planned {
    selected: Selected,
    deployed: spec::Deployed,
}

fn key(s: &Selected) -> (String, String) {
    (s.config.service.clone(), s.config.instance.clone())
}

/// The jobs to rerun in `cluster`, in order, checked: every refusal happens before anything runs.
fn plan(cli: &Cli, system: &SystemConfig, cluster: &str) -> Result<Vec<Planned>> {
    let name = format!("{}.{}", cli.service, cli.instance);
    let wanted = soa::select::select(
        &cli.soa_dir,
        cluster,
        &[InstanceType::Chronos],
        std::slice::from_ref(&name),
    );
    if let Some(f) = wanted.failures.first() {
        bail!("unknown job {name}: {}", f.message);
    }
    let order: Vec<Selected> = match cli.rerun_type {
        RerunType::Instance => wanted.selected,
        RerunType::Graph => {
            let all = soa::select::select(&cli.soa_dir, cluster, &[InstanceType::Chronos], &[]);
            let nodes: Vec<soa::jobs::Node> = all
                .selected
                .iter()
                .map(|s| (key(s), soa::jobs::parents(&s.config)))
                .collect();
            let start = (cli.service.clone(), cli.instance.clone());
            let keys = soa::jobs::related_in_order(&nodes, &start)?;
            keys.iter()
                .filter_map(|k| all.selected.iter().find(|s| key(s) == *k).cloned())
                .collect()
        }
    };
    let disabled: Vec<String> = order
        .iter()
        .filter(|s| s.config.disabled())
        .map(|s| format!("{}.{}", s.config.service, s.config.instance))
        .collect();
    if !disabled.is_empty() && !cli.force_disabled {
        bail!(
            "{} disabled (disabled: true); rerun anyway with -f/--force-disabled",
            if disabled.len() == 1 {
                format!("the job {} is", disabled[0])
            } else {
                format!("the jobs {} are", disabled.join(", "))
            }
        );
    }
    let mut out = Vec::new();
    for s in order {
        let config = &s.config;
        if let Some(cmd) = &config.cmd {
            let text = cmd.joined();
            let uses =
                soa::timevars::has_variables(&text, config.syntax_for(&text)).map_err(|e| {
                    soa::Problem::new(&config.file, e.to_string())
                        .instance_of(&config.service, &config.instance)
                        .key("cmd")
                })?;
            if uses && cli.execution_date.is_none() {
                bail!(
                    "the command of {}.{} uses time variables ({text:?}): give the date to run it as with -d YYYY-MM-DDTHH:MM:SS",
                    config.service,
                    config.instance
                );
            }
        }
        let deployments = Deployments::load(&cli.soa_dir, &config.service)?;
        let deployed = spec::deployed(
            &cli.soa_dir,
            &s.service,
            config,
            system,
            deployments.as_ref(),
        )?;
        out.push(Planned {
            selected: s,
            deployed,
        });
    }
    Ok(out)
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let system = SystemConfig::load(&soa::system::default_dir())?;
    let date = cli.execution_date.as_deref().map(parse_date).transpose()?;
    let clusters = if cli.clusters.is_empty() {
        vec![system.cluster_or(None)?]
    } else {
        cli.clusters.clone()
    };
    let mut plans = Vec::new();
    for c in &clusters {
        plans.push((c.clone(), plan(&cli, &system, c)?));
    }
    let now = Utc::now();
    let stamp = tmp_stamp(now);
    let due = date.unwrap_or(now.timestamp());
    let rt = cli::runtime()?;
    if cluster::chronos::chosen(&cli.backend.backend) {
        let [(cluster, planned)] = plans.as_slice() else {
            bail!("--backend chronos: one cluster at a time (each cluster has its own Chronos)");
        };
        // Every job is built (and refused) before anything is sent.
        let jobs = chronos::jobs(&cli, &system, planned, &stamp, now.timestamp(), due)?;
        let failed = rt.block_on(chronos::run(&cli, cluster, planned, &jobs, date))?;
        return Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    rt.block_on(async {
        let mut failed = false;
        for (cluster, planned) in &plans {
            let backend = if cli.dry_run {
                None
            } else {
                Some(
                    cluster::open(&cli.backend.backend, cluster, cli.backend.engine_timeout.0)
                        .await?,
                )
            };
            let wait = cli.wait || cli.rerun_type == RerunType::Graph;
            let mut not_ok: HashSet<(String, String)> = HashSet::new();
            for p in planned {
                let config = &p.selected.config;
                let job = soa::jobs::rerun_name(&stamp, &config.service, &config.instance);
                let (spec, command, warnings) = spec::run_spec(
                    config,
                    &system,
                    &p.deployed,
                    RunOf {
                        job: job.clone(),
                        kind: RunKind::Rerun,
                        due,
                        attempt: 0,
                        started_ms: now.timestamp_millis(),
                    },
                )?;
                for w in warnings {
                    eprintln!(
                        "rerun: {}.{}: warning: {w}",
                        config.service, config.instance
                    );
                }
                let mut record = Record::new(cluster, config, &job, date, command);
                let blocked = soa::jobs::parents(&p.selected.config)
                    .into_iter()
                    .find(|k| not_ok.contains(k));
                if let Some((ps, pi)) = blocked {
                    record.result = Some(RunResult::NotRun);
                    record.reason = Some(format!("its parent {ps}.{pi} did not succeed"));
                    not_ok.insert((config.service.clone(), config.instance.clone()));
                    failed = true;
                    cli::print_json_line(&record)?;
                    continue;
                }
                let Some(backend) = &backend else {
                    cli::print_json_line(&record)?;
                    continue;
                };
                let run = backend.launch_run(&spec, None).await?;
                record.run = Some(run.name.clone());
                if wait {
                    eprintln!("rerun: {job}: started {}, waiting for it to end", run.name);
                    let code = backend.wait_run(&run).await?;
                    record.exit_code = Some(code);
                    record.result = Some(if code == 0 {
                        RunResult::Succeeded
                    } else {
                        RunResult::Failed
                    });
                    if code != 0 {
                        failed = true;
                        not_ok.insert((config.service.clone(), config.instance.clone()));
                    }
                }
                cli::print_json_line(&record)?;
            }
        }
        Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_names() {
        assert_eq!(parse_date("2019-03-01T00:00:00").unwrap(), 1551398400);
        assert_eq!(parse_date("2019-03-01").unwrap(), 1551398400);
        assert!(parse_date("yesterday")
            .unwrap_err()
            .to_string()
            .contains("is not a date"));
        let t = chrono::DateTime::parse_from_rfc3339("2019-03-02T10:11:12.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(tmp_stamp(t), "2019-03-02T101112123456");
    }
}
