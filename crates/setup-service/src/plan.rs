//! What one long-running instance should be, from its configs alone: the app to run, its
//! desired task count, how to bounce and drain. No I/O but reading deployments.json once per
//! service.

use cluster::bounce::Method;
use cluster::drain::DrainMethod;
use cluster::spec::Deployed;
use cluster::AppSpec;
use container::http::Timeouts;
use soa::deployments::Deployments;
use soa::select::Selected;
use soa::SystemConfig;
use std::collections::HashMap;

/// What one instance should be, computed from its configs alone.
pub(crate) struct Plan {
    pub(crate) selected: Selected,
    pub(crate) spec: AppSpec,
    pub(crate) desired: usize,
    pub(crate) method: Method,
    pub(crate) margin: f64,
    /// `bounce_health_params.min_task_uptime`: a new task counts as happy only after this long.
    pub(crate) min_task_uptime: f64,
    pub(crate) drain: DrainMethod,
    pub(crate) registrations: Vec<String>,
}

/// The deployments.json of a service, read once per run.
pub(crate) type DeploymentsCache = HashMap<String, Result<Option<Deployments>, String>>;

pub(crate) fn deployed_of(
    selected: &Selected,
    system: &SystemConfig,
    soa_dir: &std::path::Path,
    cache: &mut DeploymentsCache,
) -> anyhow::Result<Deployed> {
    let config = &selected.config;
    // Kept as text: every instance of a service whose deployments.json is broken says so.
    let deployments = cache
        .entry(config.service.clone())
        .or_insert_with(|| Deployments::load(soa_dir, &config.service).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cluster::spec::deployed(
        soa_dir,
        &selected.service,
        config,
        system,
        deployments.as_ref(),
    )?)
}

pub(crate) fn plan(
    selected: Selected,
    system: &SystemConfig,
    deployed: &Deployed,
    timeouts: Timeouts,
) -> Result<Plan, cluster::spec::SpecError> {
    let config = &selected.config;
    let where_ = format!("{}.{}", config.service, config.instance);
    let (spec, warnings) = cluster::spec::app_spec(config, system, deployed)?;
    for w in warnings {
        eprintln!("setup-service: {where_}: warning: {w}");
    }
    let long = config.long_running().ok_or_else(|| {
        soa::Problem::new(&config.file, "not a long-running instance")
            .instance_of(&config.service, &config.instance)
    })?;
    let method = long.bounce_method;
    let margin = long.bounce_margin_factor;
    let min_task_uptime = long.min_task_uptime;
    let drain = DrainMethod::new(&long.drain, timeouts);
    let registrations = long.registrations.clone();
    let desired = deployed.desired_tasks(config);
    Ok(Plan {
        desired,
        method,
        margin,
        min_task_uptime,
        drain,
        registrations,
        spec,
        selected,
    })
}
