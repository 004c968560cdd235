//! service-ctl's emergency actions and status for a job on Chronos (`--backend chronos:URL`),
//! as PaaSTA drives Chronos: emergency-start runs the job now (`PUT /scheduler/job/<name>`);
//! emergency-stop disables the job, keeping its description so setup-service leaves it
//! disabled until its config or deploy changes, and then kills its tasks in flight; status
//! reads the job and its reruns' temporary jobs with their last status and state from the
//! graph CSV.

use crate::output::{ChronosJob, ChronosStatus, Emergency, JobStatus, Status, StatusOf};
use crate::{deployed_or_warn, report, status_of, target, Cli, Target};
use anyhow::{bail, Result};
use cluster::chronos::Chronos;
use cluster::Action;
use soa::{InstanceType, SystemConfig};
use std::collections::HashMap;

fn job_target(cli: &Cli, system: &SystemConfig, name: &str) -> Result<(Target, Chronos)> {
    let t = target(cli, system, name)?;
    let c = &t.selected.config;
    if c.kind() != InstanceType::Chronos {
        bail!(
            "{}.{} is a long-running instance ({}): it runs on Marathon (--backend marathon:URL), not Chronos",
            c.service,
            c.instance,
            c.file.display()
        );
    }
    let chronos = Chronos::open(&cli.backend.backend, cli.backend.engine_timeout.0)?;
    Ok((t, chronos))
}

/// The job as Chronos has it; an error when setup-service has not sent it yet.
async fn defined(chronos: &Chronos, t: &Target) -> Result<serde_json::Value> {
    let c = &t.selected.config;
    let name = soa::jobs::job_name(&c.service, &c.instance);
    match chronos.find(&name).await? {
        Some(j) => Ok(j),
        None => bail!(
            "Chronos has no job {name:?}: setup-service --backend {} {}.{} sends it",
            "chronos:URL",
            c.service,
            c.instance
        ),
    }
}

pub fn emergency_start(cli: &Cli, system: &SystemConfig, name: &str) -> Result<Emergency> {
    let (t, chronos) = job_target(cli, system, name)?;
    cli::runtime()?.block_on(async {
        let job = defined(&chronos, &t).await?;
        let name = job["name"].as_str().unwrap_or_default().to_string();
        if job["disabled"] == true {
            eprintln!(
                "service-ctl: the Chronos job {name:?} is disabled (disabled: true, a stop, or an emergency-stop): nothing to start"
            );
            return Ok(report(cli, &t, "emergency-start", Vec::new()));
        }
        let _lock = crate::lock(cli, &t.selected.config)?;
        if !cli.dry_run {
            chronos.run_now(&name).await?;
        }
        Ok(report(
            cli,
            &t,
            "emergency-start",
            vec![Action::RunJob { job: name }],
        ))
    })
}

pub fn emergency_stop(cli: &Cli, system: &SystemConfig, name: &str) -> Result<Emergency> {
    let (t, chronos) = job_target(cli, system, name)?;
    cli::runtime()?.block_on(async {
        let mut job = defined(&chronos, &t).await?;
        let name = job["name"].as_str().unwrap_or_default().to_string();
        let _lock = crate::lock(cli, &t.selected.config)?;
        let mut actions = Vec::new();
        // Disabled first, so no new run starts between the kill and the disable.
        if job["disabled"] != true {
            job["disabled"] = true.into();
            if !cli.dry_run {
                chronos.put(&job).await?;
            }
            actions.push(Action::DisableJob { job: name.clone() });
        }
        if !cli.dry_run {
            chronos.kill(&name).await?;
        }
        actions.push(Action::KillJob { job: name.clone() });
        eprintln!(
            "service-ctl: {name:?} is disabled until its config or deploy changes (setup-service then re-sends it)"
        );
        Ok(report(cli, &t, "emergency-stop", actions))
    })
}

pub fn status(cli: &Cli, system: &SystemConfig, name: &str) -> Result<Status> {
    let (t, chronos) = job_target(cli, system, name)?;
    let config = &t.selected.config;
    let deployed = deployed_or_warn(cli, system, &t);
    let mut error = None;
    // The description the configs make now: whether Chronos has the current job.
    let want = deployed.as_ref().and_then(|d| {
        soa::chronos::job(
            config,
            system,
            &d.image,
            d.stopped,
            d.force_bounce.as_deref(),
            chrono::Utc::now().timestamp(),
        )
        .map_err(|e| error = Some(e.to_string()))
        .ok()
    });
    let own = soa::jobs::job_name(&config.service, &config.instance);
    let (jobs, graph) = cli::runtime()?.block_on(async {
        let jobs = chronos.search(&own).await?;
        let graph = chronos.graph().await?;
        anyhow::Ok((jobs, graph))
    })?;
    let graph: HashMap<String, (String, String)> = graph
        .into_iter()
        .map(|n| (n.name, (n.last_status, n.state)))
        .collect();
    let view = |j: &serde_json::Value| {
        let name = j["name"].as_str().unwrap_or_default().to_string();
        let (last_status, state) = graph.get(&name).cloned().unwrap_or_default();
        ChronosJob {
            description: j["description"].as_str().map(str::to_string),
            disabled: j["disabled"] == true,
            schedule: j["schedule"].as_str().map(str::to_string),
            parents: j["parents"].as_array().map(|p| {
                p.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            }),
            last_status,
            state,
            name,
        }
    };
    let job = jobs.iter().find(|j| j["name"] == own.as_str()).map(view);
    let mut reruns: Vec<ChronosJob> = jobs
        .iter()
        .filter(|j| {
            j["name"]
                .as_str()
                .and_then(soa::chronos::parse_name)
                .is_some_and(|(tmp, s, i)| {
                    tmp.is_some() && s == config.service && i == config.instance
                })
        })
        .map(view)
        .collect();
    reruns.sort_by(|a, b| b.name.cmp(&a.name));
    let scheduled = config.scheduled();
    let of = StatusOf::Job(JobStatus {
        schedule: scheduled.and_then(|j| j.schedule.clone()),
        parents: scheduled.and_then(|j| j.parents.clone()),
        disabled: config.disabled(),
        state: None,
        next_due: None,
        runs: Vec::new(),
        reruns: Vec::new(),
        chronos: Some(Box::new(ChronosStatus {
            current: match (&job, &want) {
                (Some(j), Some(w)) => Some(j.description.as_deref() == w["description"].as_str()),
                _ => None,
            },
            job,
            reruns,
        })),
    });
    Ok(status_of(&t, deployed.as_ref(), of, error))
}
