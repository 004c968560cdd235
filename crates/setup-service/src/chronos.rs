//! Scheduled jobs on Chronos (`--backend chronos:URL`): Chronos schedules them itself, so a
//! pass only keeps its jobs equal to what the configs say, as PaaSTA's setup_chronos_job does.
//! Each job is built by soa::chronos; one whose description (its config hash) differs from the
//! job Chronos has, or that Chronos lacks, is sent whole, parents before their children. A stop
//! is `disabled: true`, which changes the description. With `--all`, jobs of instances no
//! longer configured are deleted, and reruns' temporary jobs a day after they ran.
//!
//! Long-running instances are Marathon's (`--backend marathon:URL`): a pass on Chronos
//! sets up jobs only, as PaaSTA's two cron entries did.

use crate::output::sensu_event;
use crate::plan::{deployed_of, DeploymentsCache};
use crate::Cli;
use anyhow::{bail, Result};
use cluster::chronos::Chronos;
use cluster::rest::Request;
use cluster::Action;
use serde::Serialize;
use serde_json::Value;
use soa::select::Selected;
use soa::{InstanceType, SystemConfig};
use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

/// One job's line.
#[derive(Debug, Default, Serialize)]
struct JobLine {
    service: String,
    instance: String,
    job: String,
    /// The config hash the job carries.
    description: Option<String>,
    disabled: Option<bool>,
    actions: Vec<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
}

impl JobLine {
    fn new(service: &str, instance: &str) -> JobLine {
        JobLine {
            service: service.into(),
            instance: instance.into(),
            job: soa::jobs::job_name(service, instance),
            ..Default::default()
        }
    }
}

/// The selected jobs with parents before their children (as far as both are selected).
fn parents_first(selected: Vec<Selected>) -> Vec<Selected> {
    let key = |s: &Selected| (s.config.service.clone(), s.config.instance.clone());
    let wanted: HashSet<(String, String)> = selected.iter().map(key).collect();
    let mut done: HashSet<(String, String)> = HashSet::new();
    let mut left = selected;
    let mut out = Vec::new();
    while !left.is_empty() {
        let (ready, wait): (Vec<Selected>, Vec<Selected>) = left.into_iter().partition(|s| {
            soa::jobs::parents(&s.config)
                .iter()
                .all(|p| !wanted.contains(p) || done.contains(p))
        });
        if ready.is_empty() {
            // A cycle: Chronos refuses what cannot be; the order no longer matters.
            out.extend(wait);
            break;
        }
        done.extend(ready.iter().map(key));
        out.extend(ready);
        left = wait;
    }
    out
}

/// A temporary job's time, from its `tmp-<YYYY-MM-DDTHHMMSSffffff>` prefix (unix seconds).
fn tmp_time(prefix: &str) -> Option<i64> {
    let stamp = prefix.strip_prefix("tmp-")?;
    let t = chrono::NaiveDateTime::parse_from_str(stamp.get(..17)?, "%Y-%m-%dT%H%M%S").ok()?;
    Some(t.and_utc().timestamp())
}

pub(crate) async fn pass(
    cli: &Cli,
    system: &SystemConfig,
    cluster: &str,
    now_ms: i64,
) -> Result<ExitCode> {
    let chronos = Chronos::open(
        &cli.master.scope.backend.backend,
        cli.master.scope.backend.engine_timeout.0,
    )?;
    let selection = soa::select::select(
        &cli.master.scope.soa_dir,
        cluster,
        &[InstanceType::Marathon, InstanceType::Chronos],
        &cli.instances,
    );
    if let Some(e) = &selection.unreadable_root {
        bail!("{e}");
    }
    // Nothing is sent before Chronos has answered once.
    let existing: HashMap<String, Value> = chronos
        .jobs()
        .await?
        .into_iter()
        .filter_map(|j| Some((j["name"].as_str()?.to_string(), j)))
        .collect();
    let mut lines: Vec<(JobLine, Option<&Selected>)> = Vec::new();
    let mut configured: HashSet<(String, String)> = HashSet::new();
    for f in &selection.failures {
        let mut line = JobLine::new(&f.service, f.instance.as_deref().unwrap_or_default());
        if let Some(i) = &f.instance {
            configured.insert((f.service.clone(), i.clone()));
        }
        line.error = Some(f.message.clone());
        lines.push((line, None));
    }
    let (jobs, long): (Vec<Selected>, Vec<Selected>) = selection
        .selected
        .into_iter()
        .partition(|s| s.config.kind() == InstanceType::Chronos);
    for s in &long {
        configured.insert((s.config.service.clone(), s.config.instance.clone()));
        if !cli.all {
            let mut line = JobLine::new(&s.config.service, &s.config.instance);
            line.error = Some(format!(
                "{}.{} is a long-running instance ({}): it runs on Marathon (--backend marathon:URL), not Chronos",
                s.config.service,
                s.config.instance,
                s.config.file.display()
            ));
            lines.push((line, None));
        }
    }
    let jobs = parents_first(jobs);
    let mut deployments: DeploymentsCache = HashMap::new();
    let mut shown: Vec<Request> = Vec::new();
    let mut locks = Vec::new();
    for s in &jobs {
        let config = &s.config;
        configured.insert((config.service.clone(), config.instance.clone()));
        let mut line = JobLine::new(&config.service, &config.instance);
        match crate::lock(cli, &config.service, &config.instance)? {
            Ok(l) => locks.extend(l),
            Err(held) => {
                line.skipped = Some(held);
                lines.push((line, None));
                continue;
            }
        }
        let built =
            deployed_of(s, system, &cli.master.scope.soa_dir, &mut deployments).and_then(|d| {
                Ok(soa::chronos::job(
                    config,
                    system,
                    &d.image,
                    d.stopped,
                    d.force_bounce.as_deref(),
                    now_ms.div_euclid(1000),
                )?)
            });
        let job = match built {
            Ok(j) => j,
            Err(e) => {
                line.error = Some(format!("{e:#}"));
                lines.push((line, Some(s)));
                continue;
            }
        };
        let description = job["description"].as_str().unwrap_or_default().to_string();
        line.description = Some(description.clone());
        line.disabled = job["disabled"].as_bool();
        let current = existing.get(&line.job);
        if current.is_some_and(|c| c["description"] == job["description"]) {
            lines.push((line, Some(s)));
            continue;
        }
        let request = Chronos::put_request(&job);
        let endpoint = request.path.clone();
        match send_or_show(cli, &chronos, request, &mut shown).await {
            Ok(()) => line.actions.push(Action::PutJob {
                job: line.job.clone(),
                endpoint,
                description,
            }),
            Err(e) => line.error = Some(e.to_string()),
        }
        lines.push((line, Some(s)));
    }
    if cli.all {
        cleanup(
            cli,
            &chronos,
            &existing,
            &configured,
            &selection.unreadable_services,
            now_ms,
            &mut lines,
            &mut shown,
        )
        .await?;
    }
    drop(locks);
    report(cli, system, lines, shown, &chronos)
}

/// Sends `request`, or under --dry-run keeps it for --show-definitions.
async fn send_or_show(
    cli: &Cli,
    chronos: &Chronos,
    request: Request,
    shown: &mut Vec<Request>,
) -> Result<(), cluster::BackendError> {
    if cli.dry_run {
        shown.push(request);
        Ok(())
    } else {
        chronos.send(&request).await
    }
}

/// `--all`: jobs of instances no longer configured are deleted (but not those of services that
/// could not be read), and temporary jobs a day after they were made, once not running.
#[allow(clippy::too_many_arguments)]
async fn cleanup(
    cli: &Cli,
    chronos: &Chronos,
    existing: &HashMap<String, Value>,
    configured: &HashSet<(String, String)>,
    unreadable: &[String],
    now_ms: i64,
    lines: &mut Vec<(JobLine, Option<&Selected>)>,
    shown: &mut Vec<Request>,
) -> Result<()> {
    let mut graph: Option<HashMap<String, String>> = None;
    let mut names: Vec<&String> = existing.keys().collect();
    names.sort();
    for name in names {
        let Some((tmp, service, instance)) = soa::chronos::parse_name(name) else {
            continue;
        };
        if unreadable.iter().any(|u| u == service) {
            continue;
        }
        let gone = match tmp {
            None => !configured.contains(&(service.to_string(), instance.to_string())),
            Some(prefix) => {
                let old = tmp_time(prefix)
                    .is_some_and(|t| t < now_ms.div_euclid(1000) - soa::jobs::KEEP_RESULTS_S);
                if old && graph.is_none() {
                    graph = Some(
                        chronos
                            .graph()
                            .await?
                            .into_iter()
                            .map(|n| (n.name, n.state))
                            .collect(),
                    );
                }
                let state = graph.as_ref().and_then(|g| g.get(name.as_str()));
                old && state.is_none_or(|s| s == "idle")
            }
        };
        if !gone {
            continue;
        }
        let mut line = JobLine::new(service, instance);
        line.job = name.clone();
        match send_or_show(cli, chronos, Chronos::delete_request(name), shown).await {
            Ok(()) => line.actions.push(Action::DeleteJob { job: name.clone() }),
            Err(e) => line.error = Some(e.to_string()),
        }
        lines.push((line, None));
    }
    Ok(())
}

fn report(
    cli: &Cli,
    system: &SystemConfig,
    lines: Vec<(JobLine, Option<&Selected>)>,
    shown: Vec<Request>,
    chronos: &Chronos,
) -> Result<ExitCode> {
    let mut failed = false;
    let mut sensu = crate::sensu_sender(cli, system);
    for (line, selected) in &lines {
        let name = format!("{}.{}", line.service, line.instance);
        if cli.verbose {
            for a in &line.actions {
                eprintln!("setup-service: {name}: {}", serde_json::to_string(a)?);
            }
        }
        if let Some(e) = &line.error {
            failed = true;
            eprintln!("setup-service: {}", soa::select::about(&name, e));
        }
        if let (Some(sender), Some(s), false) = (&mut sensu, selected, cli.dry_run) {
            let ok = format!("{name} is set up: Chronos job {:?} is current", line.job);
            if let Some(event) = sensu_event(s, line.error.as_deref(), ok) {
                if let Err(e) = sender.send(&event) {
                    eprintln!("setup-service: warning: {e}");
                }
            }
        }
        if !cli.show_definitions {
            cli::print_json_line(line)?;
        }
    }
    if cli.show_definitions {
        for r in &shown {
            cli::print_json_line(r)?;
        }
    }
    if cli.verbose {
        eprintln!("setup-service: {} Chronos API calls", chronos.api_calls());
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn temporary_job_times() {
        assert_eq!(
            super::tmp_time("tmp-2019-03-02T101112123456"),
            Some(1551521472)
        );
        assert_eq!(super::tmp_time("tmp-nonsense"), None);
    }
}
