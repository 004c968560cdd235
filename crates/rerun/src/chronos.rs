//! rerun on Chronos (`--backend chronos:URL`), as PaaSTA's chronos_rerun does it: each job to
//! rerun is sent as a temporary job, the complete job renamed `tmp-<time> <service>
//! <instance>` with the config's command interpolated at the date; the job alone (or the root
//! of a `-t graph` rerun) runs once now (`R1//PT1M`), a related job waits for its parents'
//! temporary jobs (`parents` renamed). Chronos runs them; waiting polls its graph CSV until each
//! has run. `--dry-run` prints the requests that would be sent, one JSON line each.

use crate::{Planned, Record, RunResult};
use anyhow::{bail, Result};
use cluster::chronos::Chronos;
use serde_json::Value;
use soa::SystemConfig;
use std::collections::HashSet;
use std::time::Duration;

/// The temporary jobs of one cluster, in order (parents first).
pub(crate) fn jobs(
    cli: &crate::Cli,
    system: &SystemConfig,
    planned: &[Planned],
    stamp: &str,
    now: i64,
    date: i64,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for p in planned {
        let config = &p.selected.config;
        let d = &p.deployed;
        if d.stopped && !cli.force_disabled {
            bail!(
                "{}.{} is stopped (desired_state stop), so its rerun would be disabled on Chronos; rerun anyway with -f/--force-disabled",
                config.service,
                config.instance
            );
        }
        let job = soa::chronos::job(
            config,
            system,
            &d.image,
            d.stopped,
            d.force_bounce.as_deref(),
            now,
        )?;
        let parents = match cli.rerun_type {
            crate::RerunType::Instance => None,
            crate::RerunType::Graph => Some(
                soa::jobs::parents(config)
                    .iter()
                    .map(|(s, i)| soa::jobs::rerun_name(stamp, s, i))
                    .collect(),
            ),
        };
        out.push(soa::chronos::rerun_job(
            &job,
            config,
            stamp,
            date,
            parents,
            cli.force_disabled,
        )?);
    }
    Ok(out)
}

/// Sends the temporary jobs (or, with --dry-run, prints their requests) and prints a record
/// for each; waits for them when asked (or -t graph). Whether one did not succeed.
pub(crate) async fn run(
    cli: &crate::Cli,
    cluster: &str,
    planned: &[Planned],
    jobs: &[Value],
    date: Option<i64>,
) -> Result<bool> {
    if cli.dry_run {
        for j in jobs {
            cli::print_json_line(&Chronos::put_request(j))?;
        }
        return Ok(false);
    }
    let chronos = Chronos::open(&cli.backend.backend, cli.backend.engine_timeout.0)?;
    for j in jobs {
        chronos.put(j).await?;
    }
    let wait = cli.wait || cli.rerun_type == crate::RerunType::Graph;
    let mut failed = false;
    let mut not_ok: HashSet<String> = HashSet::new();
    for (p, j) in planned.iter().zip(jobs) {
        let config = &p.selected.config;
        let name = j["name"].as_str().unwrap_or_default().to_string();
        let command = j["command"].as_str().map(str::to_string);
        let mut record = Record::new(cluster, config, &name, date, command);
        // On Chronos the run is the temporary job itself.
        record.run = Some(name.clone());
        if wait {
            let blocked = j["parents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|p| not_ok.contains(*p));
            match blocked {
                Some(parent) => {
                    record.result = Some(RunResult::NotRun);
                    record.reason = Some(format!("its parent {parent:?} did not succeed"));
                }
                None => {
                    eprintln!("rerun: {name}: sent to Chronos, waiting for it to run");
                    let ok = wait_for(&chronos, &name).await?;
                    record.result = Some(if ok {
                        RunResult::Succeeded
                    } else {
                        RunResult::Failed
                    });
                }
            }
            if record.result != Some(RunResult::Succeeded) {
                failed = true;
                not_ok.insert(name);
            }
        }
        cli::print_json_line(&record)?;
    }
    Ok(failed)
}

/// Polls the graph until the job has run and is idle again: whether it succeeded.
async fn wait_for(chronos: &Chronos, name: &str) -> Result<bool> {
    let mut pause = Duration::from_millis(200);
    loop {
        let graph = chronos.graph().await?;
        match graph.iter().find(|n| n.name == name) {
            None => bail!("Chronos no longer has the job {name:?} (deleted while it ran?)"),
            Some(n) if n.state == "idle" && n.last_status != "fresh" => {
                return Ok(n.last_status == "success")
            }
            Some(_) => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
