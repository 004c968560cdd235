//! `check-replication`: for each long-running instance of a cluster, compares the tasks that are
//! available with the tasks expected (docs/paasta.md §6) and says so as a Sensu event: one
//! JSON line per instance on stdout, and the same event to the Sensu client unless --dry-run.
//!
//! Expected: `instances` (0 when deployments.json says stop). Available: running tasks of any
//! app of the instance that pass their health check (or have none) and started over a minute
//! ago. CRITICAL below the instance's `replication_threshold` percent (default 50). The exit status
//! follows Nagios for the whole run: 2 when at least --crit percent of the instances, and at
//! least --min-count-critical of them, are critical; 3 when the check could not run.
//!
//! Reads: soa-configs, deployments.json, the system config, the cluster (one look).

use anyhow::Result;
use clap::Parser;
use cluster::App;
use rayon::prelude::*;
use soa::deployments::{Deployments, DesiredState};
use soa::select::Selected;
use soa::{InstanceType, SystemConfig};
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

const EXAMPLES: &str = "\
Examples:
  check-replication                          # every long-running instance, events to Sensu
  check-replication --dry-run example_service.main
  check-replication --crit 20 --min-count-critical 1 --sensu sensu.local:3030";

/// Nagios' UNKNOWN: the check itself could not run.
pub const EXIT_UNKNOWN: u8 = 3;

/// Check that enough tasks of each long-running instance are available, as Sensu events.
#[derive(Debug, Parser)]
#[command(name = "check-replication", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub master: cli::MasterArgs,

    /// The run is CRITICAL (exit 2) when at least this percent of the instances are critical...
    #[arg(long, default_value_t = 10.0, value_name = "PCT")]
    pub crit: f64,

    /// ...and at least this many of them.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub min_count_critical: usize,

    /// Print the events, send none.
    #[arg(long)]
    pub dry_run: bool,

    /// Instances to check (default: every long-running instance of the cluster).
    #[arg(value_name = "SERVICE.INSTANCE")]
    pub instances: Vec<String>,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    (
        "OUTPUT",
        "One Sensu event per instance, as PaaSTA sends it: {name: \
         check_paasta_services_replication.<service>.<instance>, status (0 OK, 2 CRITICAL), \
         output, team, runbook, tip, …, source: paasta-<cluster>}. An instance whose monitoring \
         names no team has no event.",
    ),
    (
        "EXIT STATUS",
        "0\tOK: fewer than --crit percent or fewer than --min-count-critical instances are critical\n\
         2\tCRITICAL: at least --crit percent and at least --min-count-critical instances are critical (also: bad usage)\n\
         3\tUNKNOWN: the check could not run (no cluster, unreachable engine, unreadable snapshot)",
    ),
    (
        "ENVIRONMENT",
        "SOA_DIR\tthe soa-configs root (-d)\n\
         PAASTA_SYSTEM_CONFIG_DIR\tthe system config directory (default /etc/paasta)\n\
         DOCKER_HOST\tthe Docker engine (default unix:///var/run/docker.sock)",
    ),
    (
        "FILES",
        "<SOA_DIR>/<SERVICE>/marathon-<CLUSTER>.yaml\tthe long-running instances and their instance counts\n\
         <SOA_DIR>/<SERVICE>/monitoring.yaml\tteam, runbook, tip, paging and alert timing\n\
         <SOA_DIR>/<SERVICE>/deployments.json\tdesired_state (stop: 0 expected)\n\
         $PAASTA_SYSTEM_CONFIG_DIR/*.json\tcluster, sensu_host, sensu_port",
    ),
    ("EXAMPLES", EXAMPLES),
];

/// Like cli::finish, with Nagios' UNKNOWN for a check that could not run.
pub fn finish(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => match cli::finish("check-replication", Err(e)) {
            c if c == ExitCode::SUCCESS => c,
            _ => ExitCode::from(EXIT_UNKNOWN),
        },
    }
}

/// Tasks must have been up this long to count (a task that just started has not proven itself).
const MIN_UPTIME_S: i64 = 60;

/// One instance's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Replication {
    pub expected: u64,
    pub available: u64,
    pub threshold: f64,
}

impl Replication {
    pub fn critical(&self) -> bool {
        let percent = if self.expected == 0 {
            100.0
        } else {
            100.0 * self.available as f64 / self.expected as f64
        };
        percent < self.threshold
    }

    /// PaaSTA's two lines, and when CRITICAL what the alert means and what to look at.
    pub fn text(&self, service: &str, instance: &str, cluster: &str) -> String {
        let mut text = format!(
            "Service {service}.{instance} has {} out of {} expected instances available!\n(threshold: {}%)",
            self.available,
            self.expected,
            soa::pyjson::float_repr(self.threshold).trim_end_matches(".0")
        );
        if self.critical() {
            text.push_str(&format!(
                "\n\n\
                 Fewer of {service}.{instance}'s tasks are up, healthy and past their first minute \
                 in cluster {cluster} than its replication_threshold allows, so less of its \
                 capacity is serving than the service owners asked for.\n\
                 Likely reasons: tasks crash or fail their health check after a new deploy; the \
                 cluster lacks the room to start them; a bounce is stuck waiting for a drain.\n\
                 What to do: see the tasks and their health with\n\
                 \x20   service-ctl status {service}.{instance} -c {cluster}\n\
                 and what the deploy loop last did with\n\
                 \x20   setup-service {service}.{instance} -c {cluster} --dry-run"
            ));
        }
        text
    }
}

/// The replication of one instance given every app of it that runs.
pub fn replication(selected: &Selected, stopped: bool, apps: &[&App], now: i64) -> Replication {
    let config = &selected.config;
    let long = config.long_running();
    let expected = long.map_or(0, |l| l.desired(stopped));
    let available = apps
        .iter()
        .flat_map(|a| &a.tasks)
        .filter(|t| t.is_happy() && now - t.started_at > MIN_UPTIME_S)
        .count() as u64;
    // An instance key (next to `instances`), not a monitoring one.
    let threshold = long.map_or(50.0, |l| l.replication_threshold);
    Replication {
        expected,
        available,
        threshold,
    }
}

/// One instance's verdict: critical or not, and its event (None: no team to send it to).
type Verdict<'a> = (bool, Option<soa::sensu::Event<'a>>);

/// The verdicts of `selected`, in order, built on every core: 10,000 instances are read each
/// minute.
fn verdicts<'a>(
    soa_dir: &std::path::Path,
    selected: &'a [Selected],
    by_instance: &HashMap<(&str, &str), Vec<&App>>,
    now: i64,
) -> Vec<Verdict<'a>> {
    // Each worker keeps the deployments.json it has read: a service's instances sit together.
    selected
        .par_iter()
        .map_init(
            HashMap::<&str, Option<Deployments>>::new,
            |deployments, s| {
                let config = &s.config;
                let deployed = deployments
                    .entry(config.service.as_str())
                    .or_insert_with(|| {
                        Deployments::load(soa_dir, &config.service).unwrap_or_else(|e| {
                            eprintln!("check-replication: {e}");
                            None
                        })
                    });
                let stopped = deployed
                    .as_ref()
                    .and_then(|d| d.control(&config.service, &config.cluster, &config.instance))
                    .is_some_and(|c| c.desired_state == DesiredState::Stop);
                let apps = by_instance
                    .get(&(config.service.as_str(), config.instance.as_str()))
                    .map_or(&[][..], Vec::as_slice);
                let r = replication(s, stopped, apps, now);
                let status = if r.critical() {
                    soa::sensu::CRITICAL
                } else {
                    soa::sensu::OK
                };
                let name = format!(
                    "check_paasta_services_replication.{}.{}",
                    config.service, config.instance
                );
                let text = r.text(&config.service, &config.instance, &config.cluster);
                let event = soa::sensu::event(&s.service, config, name, status, text);
                (r.critical(), event)
            },
        )
        .collect()
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let system = SystemConfig::load(&soa::system::default_dir())?;
    let cluster = system.cluster_or(cli.master.scope.cluster.as_deref())?;
    let (selection, apps) = cluster::select_with_apps(
        &cli.master.scope.soa_dir,
        &cluster,
        &[InstanceType::Marathon],
        &cli.instances,
        &cli.master.scope.backend.backend,
        cli.master.scope.backend.engine_timeout.0,
    );
    selection
        .report("check-replication")
        .map_err(|e| anyhow::anyhow!(e))?;
    let apps = apps?;
    let mut by_instance: HashMap<(&str, &str), Vec<&App>> = HashMap::new();
    for app in &apps {
        by_instance
            .entry((app.service.as_str(), app.instance.as_str()))
            .or_default()
            .push(app);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let sensu = cli
        .master
        .sensu
        .clone()
        .or_else(|| soa::sensu::address(&system))
        .unwrap_or_else(|| "localhost:3030".into());
    let verdicts = verdicts(
        &cli.master.scope.soa_dir,
        &selection.selected,
        &by_instance,
        now,
    );
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut sender = cluster::sensu::Sender::new(&sensu, cli.master.sensu_timeout.0);
    for event in verdicts.iter().filter_map(|(_, e)| e.as_ref()) {
        write_line(&mut out, event)?;
        if !cli.dry_run {
            if let Err(e) = sender.send(event) {
                eprintln!("check-replication: warning: {e}");
            }
        }
    }
    out.flush()?;
    if sender.dropped > 0 {
        eprintln!(
            "check-replication: warning: {} of {} events were not sent to Sensu",
            sender.dropped,
            sender.dropped + sender.sent
        );
    }
    let critical = verdicts.iter().filter(|(c, _)| *c).count();
    let total = selection.selected.len();
    // Freeing tens of thousands of parsed configs one by one costs a tenth of the run; the
    // process is about to end and the kernel takes the memory back at once.
    std::mem::forget(verdicts);
    std::mem::forget(by_instance);
    std::mem::forget(apps);
    std::mem::forget(selection);
    let crit_enough = total > 0 && 100.0 * critical as f64 / total as f64 >= cli.crit;
    if critical > 0 {
        eprintln!("check-replication: {critical} of {total} instances are under-replicated");
    }
    Ok(if crit_enough && critical >= cli.min_count_critical {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_line(out: &mut impl Write, event: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}
