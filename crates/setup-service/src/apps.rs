//! One step for one long-running instance: keep the new app at its count, bounce the old
//! apps away as the bounce method decides, drain tasks and kill them once the drain method
//! calls them safe, delete emptied apps; and remove the apps of instances no longer configured.

use crate::output::Outcome;
use crate::plan::Plan;
use cluster::bounce::{self, Situation};
use cluster::drain::{DrainMethod, DrainTask};
use cluster::{Action, App, Backend, Task, TaskState};
use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub(crate) fn drain_task(app: &App, task: &Task, registrations: &[String]) -> DrainTask {
    DrainTask::new(
        &app.service,
        &app.instance,
        &task.host,
        task.port.unwrap_or(0),
        registrations.to_vec(),
    )
}

/// Drains, or kills once safe, the given tasks; tasks that have ended are removed without a
/// drain. Errors of the drain method leave the task running and are returned.
pub(crate) async fn retire<B: Backend>(
    backend: &B,
    drain: &DrainMethod,
    tasks: &[(&App, &Task, bool)],
    registrations: &[String],
    dry_run: bool,
    actions: &mut Vec<Action>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let results =
        futures_util::future::join_all(tasks.iter().map(|(app, task, draining)| async move {
            let mut acts = Vec::new();
            let name = || task.name.clone();
            let app_id = || app.id.clone();
            let kill = || async {
                if !dry_run {
                    backend
                        .kill_task(app, task)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(Action::Kill {
                    app: app_id(),
                    task: name(),
                })
            };
            if task.state == TaskState::Exited || task.port.is_none() {
                // Nothing serves from it: no load balancer to drain it from.
                acts.push(kill().await?);
                return Ok::<_, String>(acts);
            }
            let dt = drain_task(app, task, registrations);
            if !draining {
                if !dry_run {
                    drain
                        .drain(&dt)
                        .await
                        .map_err(|e| format!("draining {}: {e}", task.name))?;
                }
                acts.push(Action::Drain {
                    app: app_id(),
                    task: name(),
                });
                if dry_run {
                    return Ok(acts);
                }
            }
            let safe = drain
                .is_safe_to_kill(&dt)
                .await
                .map_err(|e| format!("asking whether {} is safe to kill: {e}", task.name))?;
            if safe {
                acts.push(kill().await?);
            } else {
                acts.push(Action::WaitDrain {
                    app: app_id(),
                    task: name(),
                    reason: format!("{} does not call it safe to kill yet", drain.name()),
                });
            }
            Ok(acts)
        }))
        .await;
    for r in results {
        match r {
            Ok(mut a) => actions.append(&mut a),
            Err(e) => errors.push(e),
        }
    }
    errors
}

/// The tasks' draining state per the drain method; a task whose state cannot be read counts as
/// draining (it will be neither kept nor killed on a guess) and its error is returned.
pub(crate) async fn draining_of(
    drain: &DrainMethod,
    tasks: &[(&App, &Task)],
    registrations: &[String],
) -> (Vec<bool>, Vec<String>) {
    let answers = futures_util::future::join_all(tasks.iter().map(|(app, task)| async move {
        if task.port.is_none() || task.state != TaskState::Running {
            return Ok(false);
        }
        let dt = drain_task(app, task, registrations);
        drain
            .is_draining(&dt)
            .await
            .map_err(|e| format!("asking whether {} is draining: {e}", task.name))
    }))
    .await;
    let mut errors = Vec::new();
    let flags = answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|e| {
                errors.push(e);
                true
            })
        })
        .collect();
    (flags, errors)
}

/// One step for one instance.
pub(crate) async fn act<B: Backend>(
    backend: &B,
    plan: &Plan,
    apps: &[&App],
    dry_run: bool,
) -> Outcome {
    let config = &plan.selected.config;
    let mut out = Outcome {
        service: config.service.clone(),
        instance: config.instance.clone(),
        app_id: Some(plan.spec.id.clone()),
        desired: plan.desired,
        ..Default::default()
    };
    let mut errors: Vec<String> = Vec::new();
    let target = apps.iter().copied().find(|a| a.id == plan.spec.id);
    let old: Vec<&App> = apps
        .iter()
        .copied()
        .filter(|a| a.id != plan.spec.id)
        .collect();
    let started_before = now() - plan.min_task_uptime;
    out.happy = target.map_or(0, |a| {
        a.tasks
            .iter()
            .filter(|t| t.is_happy() && t.started_at as f64 <= started_before)
            .count()
    });

    // Tasks to take away: every old one that does not serve, and the bounce's choice of those
    // that do; all of them when the instance is stopped.
    let mut unserving: Vec<(&App, &Task)> = Vec::new();
    let mut old_serving: Vec<(&App, &Task)> = Vec::new();
    for app in &old {
        for t in &app.tasks {
            if t.is_happy() && plan.desired > 0 {
                old_serving.push((app, t));
            } else {
                unserving.push((app, t));
            }
        }
    }
    let (draining, mut errs) = draining_of(&plan.drain, &old_serving, &plan.registrations).await;
    errors.append(&mut errs);
    let (already, non_draining): (Vec<_>, Vec<_>) =
        old_serving.iter().zip(draining).partition(|(_, d)| *d);
    let decision = bounce::decide(
        plan.method,
        Situation {
            instances: plan.desired,
            new_app_running: target.is_some(),
            happy_new: out.happy,
            old_non_draining: non_draining.len(),
            margin: plan.margin,
        },
    );
    // The new app's own tasks beyond the instance count (scaled down, or stopped): the least
    // useful first, the unhappy, then the newest.
    if let Some(app) = target {
        let mut live: Vec<&Task> = app.tasks.iter().filter(|t| t.is_live()).collect();
        live.sort_by_key(|t| (!t.is_happy(), t.started_at));
        unserving.extend(live.into_iter().skip(plan.desired).map(|t| (app, t)));
        if plan.desired == 0 {
            unserving.extend(app.tasks.iter().filter(|t| !t.is_live()).map(|t| (app, t)));
        }
    }
    // Only the tasks whose draining state is not known yet are asked.
    let (draining_now, mut errs) = draining_of(&plan.drain, &unserving, &plan.registrations).await;
    errors.append(&mut errs);
    let mut work: Vec<(&App, &Task, bool)> = unserving
        .iter()
        .zip(draining_now)
        .map(|((a, t), d)| (*a, *t, d))
        .collect();
    let keep = decision.keep_old.min(non_draining.len());
    work.extend(
        non_draining[keep..]
            .iter()
            .map(|((a, t), _)| (*a, *t, false)),
    );
    work.extend(already.iter().map(|((a, t), _)| (*a, *t, true)));
    let before = out.actions.len();
    errors.append(
        &mut retire(
            backend,
            &plan.drain,
            &work,
            &plan.registrations,
            dry_run,
            &mut out.actions,
        )
        .await,
    );
    // An old app whose every task was killed in this step is gone; say so, and remove what
    // the backend may keep of it.
    let killed: HashSet<String> = out.actions[before..]
        .iter()
        .filter_map(|a| match a {
            Action::Kill { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect();
    let mut remaining_old = 0;
    for app in &old {
        let left = app
            .tasks
            .iter()
            .filter(|t| !killed.contains(&t.name))
            .count();
        if left == 0 {
            if !dry_run {
                if let Err(e) = backend.delete_app(app).await {
                    errors.push(e.to_string());
                }
            }
            out.actions.push(Action::DeleteApp {
                app: app.id.clone(),
            });
        }
        remaining_old += left;
    }
    // The new app is launched (or kept at its count) after the old tasks this step retires
    // are gone: a brutal bounce never has old and new serving at once, and no method needs
    // the new tasks before its kills (what may go was decided from the state before the step).
    if plan.desired > 0 && (target.is_some() || decision.create_new_app) {
        match backend
            .reconcile(&plan.spec, target, plan.desired, now(), dry_run)
            .await
        {
            Ok(mut a) => out.actions.append(&mut a),
            Err(e) => errors.push(e.to_string()),
        }
    }

    // The new app's own extra tasks still waiting for their drain.
    let remaining_extra = work
        .iter()
        .filter(|(a, t, _)| {
            Some(a.id.as_str()) == target.map(|x| x.id.as_str()) && !killed.contains(&t.name)
        })
        .count();
    out.bounce_in_progress = remaining_old > 0 || remaining_extra > 0;
    if !errors.is_empty() {
        out.error = Some(errors.join("; "));
    }
    out
}

/// Apps of an instance no longer configured (--all): killed without draining, as there is no
/// config left to say how.
pub(crate) async fn remove_orphan<B: Backend>(
    backend: &B,
    service: &str,
    instance: &str,
    apps: &[&App],
    dry_run: bool,
) -> Outcome {
    let mut out = Outcome {
        service: service.to_string(),
        instance: instance.to_string(),
        ..Default::default()
    };
    let mut errors = Vec::new();
    for app in apps {
        if !dry_run {
            if let Err(e) = backend.delete_app(app).await {
                errors.push(e.to_string());
                continue;
            }
        }
        out.actions.push(Action::DeleteApp {
            app: app.id.clone(),
        });
    }
    if !errors.is_empty() {
        out.error = Some(errors.join("; "));
    }
    out
}
