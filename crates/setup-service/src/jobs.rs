//! Scheduled jobs (chronos-<cluster>.yaml instances): each pass starts the runs soa::jobs
//! calls due, records the occurrences that did not run, starts runs cut short before they
//! started, lifts holds a new deploy ended, and removes results past keeping.

use cluster::spec::{self, Deployed, RunOf};
use cluster::{Action, Backend, Outcome, Run, RunKind};
use soa::jobs::{self, time_text, Decision, Job, RunIndex};
use soa::select::Selected;
use soa::SystemConfig;
use std::collections::{HashMap, HashSet};

/// One job, ready to act on.
pub struct JobPlan {
    pub selected: Selected,
    pub deployed: Deployed,
    pub job: Job,
}

pub fn plan(selected: Selected, deployed: Deployed) -> Result<JobPlan, soa::Problem> {
    let job = Job::from_config(&selected.config, &deployed.git_sha, deployed.stopped)?;
    Ok(JobPlan {
        selected,
        deployed,
        job,
    })
}

/// What every job of one pass shares: the runs read at its start, and its clock.
pub struct Pass<'a> {
    /// Every run and record of each instance, reruns included (grouped once per pass).
    pub by_instance: HashMap<(&'a str, &'a str), Vec<&'a Run>>,
    pub index: &'a RunIndex<'a>,
    /// Ids of soa::jobs' expiry candidates.
    pub expirable: &'a HashSet<&'a str>,
    /// Unix milliseconds (setup-service's --now, or the clock).
    pub now_ms: i64,
    pub dry_run: bool,
}

impl<'a> Pass<'a> {
    pub fn new(
        runs: &'a [Run],
        index: &'a RunIndex<'a>,
        expirable: &'a HashSet<&'a str>,
        now_ms: i64,
        dry_run: bool,
    ) -> Pass<'a> {
        let mut by_instance: HashMap<(&str, &str), Vec<&Run>> = HashMap::new();
        for r in runs {
            by_instance
                .entry((r.service.as_str(), r.instance.as_str()))
                .or_default()
                .push(r);
        }
        Pass {
            by_instance,
            index,
            expirable,
            now_ms,
            dry_run,
        }
    }

    /// (A lookup by shorter-lived names shortens what it returns to their lifetime.)
    pub fn runs_of<'k>(&'k self, service: &'k str, instance: &'k str) -> &'k [&'k Run] {
        self.by_instance
            .get(&(service, instance))
            .map_or(&[], Vec::as_slice)
    }
}

/// The result line of one job.
#[derive(Debug)]
pub struct JobOutcome {
    pub service: String,
    pub instance: String,
    pub decision: Option<Decision>,
    pub actions: Vec<Action>,
    pub error: Option<String>,
    pub skipped: Option<String>,
}

impl JobOutcome {
    pub fn new(service: &str, instance: &str) -> JobOutcome {
        JobOutcome {
            service: service.to_string(),
            instance: instance.to_string(),
            decision: None,
            actions: Vec::new(),
            error: None,
            skipped: None,
        }
    }
}

impl serde::Serialize for JobOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            service: &'a str,
            instance: &'a str,
            job: String,
            state: Option<jobs::JobState>,
            next_due: Option<String>,
            actions: &'a [Action],
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<&'a str>,
        }
        Line {
            service: &self.service,
            instance: &self.instance,
            job: jobs::job_name(&self.service, &self.instance),
            state: self.decision.as_ref().map(|d| d.state),
            next_due: self
                .decision
                .as_ref()
                .and_then(|d| d.next_due)
                .map(time_text),
            actions: &self.actions,
            error: self.error.as_deref(),
            skipped: self.skipped.as_deref(),
        }
        .serialize(s)
    }
}

/// One pass over one job.
pub async fn act<B: Backend>(
    backend: &B,
    plan: &JobPlan,
    system: &SystemConfig,
    pass: &Pass<'_>,
) -> JobOutcome {
    let (index, now_ms, dry_run) = (pass.index, pass.now_ms, pass.dry_run);
    let config = &plan.selected.config;
    let name = plan.job.name();
    let mut out = JobOutcome::new(&config.service, &config.instance);
    let mut errors: Vec<String> = Vec::new();
    let mine = pass.runs_of(&config.service, &config.instance);

    // A launch cut short (created, never started) is finished first: it is the run in flight.
    for r in mine.iter().filter(|r| r.outcome == Outcome::Staged) {
        if !dry_run {
            if let Err(e) = backend.start_run(r).await {
                errors.push(e.to_string());
                continue;
            }
        }
        out.actions.push(Action::StartStaged {
            job: r.job.clone(),
            run: r.name.clone(),
        });
    }

    let decision = jobs::decide(&plan.job, index, now_ms.div_euclid(1000));
    for id in &decision.release {
        if let Some(r) = mine.iter().find(|r| &r.id == id) {
            if !dry_run {
                if let Err(e) = backend.remove_run(r).await {
                    errors.push(e.to_string());
                    continue;
                }
            }
            out.actions.push(Action::ReleaseHold { job: name.clone() });
        }
    }
    let build = |due: i64, attempt: u32, kind: RunKind| {
        spec::run_spec(
            config,
            system,
            &plan.deployed,
            RunOf {
                job: name.clone(),
                kind,
                due,
                attempt,
                started_ms: now_ms,
            },
        )
    };
    for rec in &decision.records {
        let result = match build(rec.due, 0, RunKind::Scheduled) {
            Ok((spec, _, _)) if !dry_run => backend
                .launch_run(&spec, Some(rec.outcome))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => out.actions.push(Action::Record {
                job: name.clone(),
                due: time_text(rec.due),
                outcome: rec.outcome,
            }),
            Err(e) => errors.push(e),
        }
    }
    if let Some(start) = decision.start {
        match build(start.due, start.attempt, start.kind) {
            Ok((spec, command, warnings)) => {
                for w in warnings {
                    eprintln!(
                        "setup-service: {}.{}: warning: {w}",
                        config.service, config.instance
                    );
                }
                let launched = if dry_run {
                    Ok(None)
                } else {
                    backend.launch_run(&spec, None).await.map(|r| Some(r.name))
                };
                match launched {
                    Ok(run) => out.actions.push(Action::StartRun {
                        job: name.clone(),
                        due: time_text(start.due),
                        attempt: start.attempt,
                        kind: start.kind,
                        command: command.unwrap_or_default(),
                        run,
                    }),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    expire(backend, mine, pass, &mut out.actions, &mut errors).await;
    out.decision = Some(decision);
    if !errors.is_empty() {
        out.error = Some(errors.join("; "));
    }
    out
}

/// Removes the results among `mine` that ended more than a day before `now_ms`. `expirable`
/// holds the ids of soa::jobs' expiry candidates (begun over a day ago, not a job's latest):
/// only for those is the backend asked when they ended; a record ended when it was written.
pub async fn expire<B: Backend>(
    backend: &B,
    mine: &[&Run],
    pass: &Pass<'_>,
    actions: &mut Vec<Action>,
    errors: &mut Vec<String>,
) {
    let (now_ms, dry_run) = (pass.now_ms, pass.dry_run);
    for r in mine
        .iter()
        .filter(|r| pass.expirable.contains(r.id.as_str()))
    {
        let ended_ms = if r.outcome.is_record() {
            r.started_ms
        } else {
            match backend.run_detail(r, 0).await {
                Ok(d) => r.started_ms + (d.duration_s.unwrap_or(0.0) * 1000.0) as i64,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            }
        };
        if ended_ms >= now_ms - jobs::KEEP_RESULTS_S * 1000 {
            continue;
        }
        if !dry_run {
            if let Err(e) = backend.remove_run(r).await {
                errors.push(e.to_string());
                continue;
            }
        }
        actions.push(Action::ExpireRun {
            job: r.job.clone(),
            run: r.name.clone(),
        });
    }
}
