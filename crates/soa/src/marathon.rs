//! A long-running instance as PaaSTA describes it to Marathon: the app definition, its config
//! hash and app id (docs/paasta.md §3). The docker backend uses the same app id and hash, so a
//! Marathon backend can reuse them unchanged, and the docker parameters, environment, volumes
//! and health check defined here are the ones every container of the toolkit gets.
//!
//! The hash: `"config" + md5(json.dumps(app without id, instances, backoff_seconds,
//! min_instances, max_instances and the two label parameters, sort_keys=True) + force_bounce)[:8]`.
//! So scaling does not bounce, and `service-ctl restart` (a new force_bounce) does.
//!
//! Where the reference is silent, ours: without `expected_slave_attributes` in the system
//! config there is no GROUP_BY constraint.

use crate::error::Problem;
use crate::instance::{HealthCheck, HealthcheckMode, LongRunning, Net, Placement};
use crate::service::{Cmd, Volume};
use crate::{pyjson, InstanceConfig, SystemConfig};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value as Json};

/// Capabilities every container loses (PaaSTA's list, in its order).
pub const CAP_DROP: [&str; 14] = [
    "SETPCAP",
    "MKNOD",
    "AUDIT_WRITE",
    "CHOWN",
    "NET_RAW",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "SETFCAP",
];

/// Memory, swap and CPU limits: `--memory=int(mem)m`, swap `ceil(mem+64)m`, and a CFS quota of
/// `(cpus + cpu_burst_add) × period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_mb: u64,
    pub memory_swap_mb: u64,
    pub cpu_period: u64,
    pub cpu_quota: u64,
}

pub fn limits(config: &InstanceConfig) -> Limits {
    let period = config.cfs_period_us;
    let burst = config.cpu_burst_add;
    Limits {
        memory_mb: config.mem as u64,
        memory_swap_mb: (config.mem + 64.0).ceil() as u64,
        cpu_period: period,
        cpu_quota: ((config.cpus + burst) * period as f64) as u64,
    }
}

/// The docker parameters in PaaSTA's order: memory-swap, cpu-period, cpu-quota, the two paasta
/// labels, extra_docker_args, cap-add, init, the 14 cap-drops.
pub fn docker_parameters(config: &InstanceConfig) -> Vec<(String, String)> {
    let l = limits(config);
    let mut p = vec![
        ("memory-swap".to_string(), format!("{}m", l.memory_swap_mb)),
        ("cpu-period".into(), l.cpu_period.to_string()),
        ("cpu-quota".into(), l.cpu_quota.to_string()),
        ("label".into(), format!("paasta_service={}", config.service)),
        (
            "label".into(),
            format!("paasta_instance={}", config.instance),
        ),
    ];
    p.extend(config.extra_docker_args.iter().cloned());
    p.extend(
        config
            .cap_add
            .iter()
            .map(|c| ("cap-add".to_string(), c.clone())),
    );
    p.push(("init".into(), "true".into()));
    p.extend(
        CAP_DROP
            .iter()
            .map(|c| ("cap-drop".to_string(), c.to_string())),
    );
    p
}

/// `registry/services-x:paasta-sha` → `services-x:paasta-sha`.
pub fn image_without_registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            rest
        }
        _ => image,
    }
}

/// PaaSTA's own variables, in its order; callers add theirs, then [`apply_user_env`].
pub fn paasta_env(config: &InstanceConfig, image: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("PAASTA_SERVICE".to_string(), config.service.clone()),
        ("PAASTA_INSTANCE".into(), config.instance.clone()),
        ("PAASTA_CLUSTER".into(), config.cluster.clone()),
        ("PAASTA_DEPLOY_GROUP".into(), config.deploy_group.clone()),
        (
            "PAASTA_DOCKER_IMAGE".into(),
            image_without_registry(image).to_string(),
        ),
    ];
    if let Some(team) = &config.team {
        env.push(("PAASTA_MONITORING_TEAM".into(), team.clone()));
    }
    // As PaaSTA sets it: the file's type (kubernetes, tron), not how it runs here.
    env.push(("PAASTA_INSTANCE_TYPE".into(), config.file_kind.to_string()));
    env
}

/// The instance's `env` over `env`: a name already there takes the user's value in place.
pub fn apply_user_env(env: &mut Vec<(String, String)>, config: &InstanceConfig) {
    for (k, v) in &config.env {
        match env.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
}

/// System volumes then extra_volumes, checked (absolute paths, RO or RW), de-duplicated and
/// sorted by container path, host path, mode.
pub fn volumes(config: &InstanceConfig, system: &[Volume]) -> Result<Vec<Volume>, Problem> {
    let mut out: Vec<Volume> = Vec::new();
    let sources = system.iter().enumerate().map(|(i, v)| (None, i, v)).chain(
        config
            .extra_volumes
            .iter()
            .enumerate()
            .map(|(i, v)| (Some(config), i, v)),
    );
    for (owner, index, v) in sources {
        let fail = |what: String| match owner {
            Some(c) => Problem::new(&c.file, format!("extra_volumes[{index}]: {what}"))
                .instance(&c.instance)
                .key("extra_volumes"),
            None => Problem::new(
                std::path::Path::new("the system config"),
                format!("volumes[{index}]: {what}"),
            )
            .key("volumes"),
        };
        for (key, path) in [
            ("hostPath", &v.host_path),
            ("containerPath", &v.container_path),
        ] {
            if !path.starts_with('/') {
                return Err(fail(format!("{key} {path:?} is not an absolute path")));
            }
        }
        let mode = match v.mode.as_str() {
            "RO" | "ro" => "RO",
            "RW" | "rw" => "RW",
            other => return Err(fail(format!("mode {other:?} is neither RO nor RW"))),
        };
        let v = Volume {
            mode: mode.into(),
            ..v.clone()
        };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out.sort_by(|a, b| {
        (&a.container_path, &a.host_path, &a.mode).cmp(&(&b.container_path, &b.host_path, &b.mode))
    });
    Ok(out)
}

/// The docker parameters as Mesos frameworks take them: `[{"key": …, "value": …}, …]`.
pub fn docker_parameters_json(config: &InstanceConfig) -> Json {
    docker_parameters(config)
        .into_iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

/// The system config's volumes and the instance's extra_volumes, as [`volumes`] checks and
/// orders them.
pub fn all_volumes(config: &InstanceConfig, system: &SystemConfig) -> Result<Vec<Volume>, Problem> {
    let system_volumes = system
        .volumes()
        .map_err(|e| Problem::new(&system.dir, e.to_string()).key("volumes"))?;
    volumes(config, &system_volumes)
}

/// The `uris` a task fetches first: the system config's dockercfg_location (default
/// `file:///root/.dockercfg`), so the agent can pull from the registry.
pub fn dockercfg_uris(system: &SystemConfig) -> Json {
    json!([system
        .get("dockercfg_location")
        .and_then(Json::as_str)
        .unwrap_or("file:///root/.dockercfg")])
}

/// A number as Python's json.dumps prints an int, or a float when it has a fraction.
fn int_or_float(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

fn healthcheck_json(h: &HealthCheck) -> Json {
    let timing = |mut m: Map<String, Json>, port_index: bool| {
        m.insert("gracePeriodSeconds".into(), int_or_float(h.grace_seconds));
        m.insert("intervalSeconds".into(), int_or_float(h.interval_seconds));
        if port_index {
            m.insert("portIndex".into(), json!(0));
        }
        m.insert("timeoutSeconds".into(), int_or_float(h.timeout_seconds));
        m.insert(
            "maxConsecutiveFailures".into(),
            json!(h.max_consecutive_failures),
        );
        Json::Object(m)
    };
    let mut m = Map::new();
    match h.mode {
        HealthcheckMode::Http | HealthcheckMode::Https => {
            m.insert(
                "protocol".into(),
                json!(format!("MESOS_{}", h.mode.as_str().to_uppercase())),
            );
            m.insert("path".into(), json!(h.path));
            timing(m, true)
        }
        HealthcheckMode::Tcp => {
            m.insert("protocol".into(), json!("TCP"));
            timing(m, true)
        }
        HealthcheckMode::Cmd => {
            m.insert("protocol".into(), json!("COMMAND"));
            m.insert("command".into(), json!({"value": h.command}));
            timing(m, false)
        }
    }
}

/// Marathon constraints (§3): the instance's `constraints` when set; otherwise extra_constraints,
/// GROUP_BY the discover attribute over the hosts deploys may reach, the blacklist (UNLIKE), the
/// whitelist (LIKE), the pool, and hostname UNIQUE for small instances.
pub fn constraints(
    config: &InstanceConfig,
    long: &LongRunning,
    system: &SystemConfig,
    desired: u64,
) -> Vec<Vec<String>> {
    let mut out = placement_constraints(&config.placement, system, Some(&long.discover));
    if config.placement.constraints.is_some() {
        return out;
    }
    let unique_size = system
        .get("auto_hostname_unique_size")
        .and_then(Json::as_i64)
        .unwrap_or(-1);
    // The desired count: a stopped instance (0) of any size is small enough.
    if (desired as i64) <= unique_size {
        out.push(vec!["hostname".into(), "UNIQUE".into()]);
    }
    out
}

/// The constraints every Mesos task of the instance gets (a Chronos job's are these): its
/// `constraints` when set; otherwise extra_constraints, with `discover` the GROUP_BY constraint
/// over the hosts deploys may reach, the instance's and the system's blacklist (UNLIKE), the
/// whitelist (LIKE) and the pool.
pub fn placement_constraints(
    p: &Placement,
    system: &SystemConfig,
    discover: Option<&str>,
) -> Vec<Vec<String>> {
    if let Some(c) = &p.constraints {
        return c.clone();
    }
    let mut out = p.extra_constraints.clone();
    let mut blacklist = p.deploy_blacklist.clone();
    if let Some(sys) = system.get("deploy_blacklist").and_then(Json::as_array) {
        blacklist.extend(sys.iter().filter_map(Json::as_array).map(|p| {
            p.iter()
                .filter_map(Json::as_str)
                .map(str::to_string)
                .collect()
        }));
    }
    let slaves = system
        .get("expected_slave_attributes")
        .and_then(Json::as_array);
    if let (Some(discover), Some(slaves)) = (discover, slaves) {
        let mut seen: Vec<&str> = Vec::new();
        for slave in slaves {
            let attr = |k: &str| slave.get(k).and_then(Json::as_str);
            let blacklisted = blacklist
                .iter()
                .any(|b| b.len() == 2 && attr(&b[0]) == Some(b[1].as_str()));
            let allowed = p.deploy_whitelist.as_ref().is_none_or(|w| {
                attr(&w.attribute).is_some_and(|v| w.values.iter().any(|x| x == v))
            });
            if let (false, true, Some(value)) = (blacklisted, allowed, attr(discover)) {
                if !seen.contains(&value) {
                    seen.push(value);
                }
            }
        }
        out.push(vec![
            discover.to_string(),
            "GROUP_BY".into(),
            seen.len().to_string(),
        ]);
    }
    out.extend(
        blacklist
            .into_iter()
            .filter(|b| b.len() == 2)
            .map(|b| vec![b[0].clone(), "UNLIKE".into(), b[1].clone()]),
    );
    if let Some(w) = &p.deploy_whitelist {
        out.push(vec![w.attribute.clone(), "LIKE".into(), w.values.join("|")]);
    }
    out.push(vec!["pool".into(), "LIKE".into(), p.pool.clone()]);
    out
}

/// Relaunch backoff: ceil(10 / instances) seconds, 1 with no instances.
pub fn backoff_seconds(instances: u64) -> u64 {
    if instances == 0 {
        1
    } else {
        10u64.div_ceil(instances)
    }
}

/// The app id: `<service>.<instance>.git<sha[:8]>.config<hash[:8]>`, `_` → `--` in each part.
pub fn app_id(service: &str, instance: &str, git_sha: &str, config_hash: &str) -> String {
    let fix = |s: &str| s.replace('_', "--");
    let sha: String = git_sha.chars().take(8).collect();
    format!(
        "{}.{}.git{}.{}",
        fix(service),
        fix(instance),
        fix(&sha),
        fix(config_hash)
    )
}

/// The git sha of a docker image: the text after its last `-` (`…:paasta-<sha>`).
pub fn code_sha(docker_image: &str) -> &str {
    docker_image.rsplit('-').next().unwrap_or(docker_image)
}

/// The exact text whose md5 is the config hash.
pub fn hash_input(app: &Json, force_bounce: Option<&str>) -> String {
    let mut sanitized = app.clone();
    if let Some(m) = sanitized.as_object_mut() {
        for k in [
            "id",
            "instances",
            "backoff_seconds",
            "min_instances",
            "max_instances",
        ] {
            m.remove(k);
        }
    }
    if let Some(params) = sanitized
        .pointer_mut("/container/docker/parameters")
        .and_then(Json::as_array_mut)
    {
        params.retain(|p| p.get("key").and_then(Json::as_str) != Some("label"));
    }
    pyjson::dumps(&sanitized, true) + force_bounce.unwrap_or("")
}

pub fn config_hash(app: &Json, force_bounce: Option<&str>) -> String {
    let digest = Md5::digest(hash_input(app, force_bounce).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("config{}", &hex[..8])
}

/// A long-running instance's app: the definition (with `id`), its id and hash.
#[derive(Debug, Clone)]
pub struct App {
    pub definition: Json,
    pub id: String,
    pub config_hash: String,
    pub git_sha: String,
}

/// PaaSTA's Marathon app definition for the long-running `config` running `image` (registry
/// included) at `desired` tasks (0 while stopped).
pub fn app(
    config: &InstanceConfig,
    system: &SystemConfig,
    image: &str,
    force_bounce: Option<&str>,
    desired: u64,
) -> Result<App, Problem> {
    let long = config.long_running().ok_or_else(|| {
        Problem::new(&config.file, "only a long-running instance has an app")
            .instance(&config.instance)
    })?;
    let host_network = config.net == Net::Host;
    let params = docker_parameters_json(config);
    let vols: Vec<Json> = all_volumes(config, system)?
        .into_iter()
        .map(
            |v| json!({"hostPath": v.host_path, "containerPath": v.container_path, "mode": v.mode}),
        )
        .collect();
    let mut docker = Map::new();
    docker.insert("image".into(), json!(image));
    docker.insert(
        "network".into(),
        json!(if host_network { "HOST" } else { "BRIDGE" }),
    );
    docker.insert("parameters".into(), params);
    if !host_network {
        docker.insert(
            "portMappings".into(),
            json!([{"containerPort": config.container_port, "hostPort": long.host_port, "protocol": "tcp"}]),
        );
    }
    let mut env = paasta_env(config, image);
    apply_user_env(&mut env, config);
    let env: Map<String, Json> = env.into_iter().map(|(k, v)| (k, json!(v))).collect();
    let mut app = Map::new();
    app.insert(
        "container".into(),
        json!({"docker": Json::Object(docker), "type": "DOCKER", "volumes": vols}),
    );
    app.insert("uris".into(), dockercfg_uris(system));
    app.insert("backoff_seconds".into(), json!(backoff_seconds(desired)));
    app.insert("backoff_factor".into(), int_or_float(long.backoff_factor));
    app.insert(
        "max_launch_delay_seconds".into(),
        int_or_float(long.max_launch_delay_seconds),
    );
    app.insert(
        "health_checks".into(),
        Json::Array(long.healthcheck.iter().map(healthcheck_json).collect()),
    );
    app.insert("env".into(), Json::Object(env));
    app.insert("mem".into(), json!(config.mem));
    app.insert("cpus".into(), json!(config.cpus));
    app.insert("disk".into(), json!(config.disk));
    app.insert(
        "constraints".into(),
        json!(constraints(config, long, system, desired)),
    );
    app.insert("instances".into(), json!(desired));
    app.insert(
        "cmd".into(),
        match &config.cmd {
            Some(Cmd::Shell(s)) => json!(s),
            Some(Cmd::Argv(v)) => json!(v.join(" ")),
            None => Json::Null,
        },
    );
    // PaaSTA sends [] when neither cmd nor args is set, and this enters the hash.
    app.insert(
        "args".into(),
        match (&config.args, &config.cmd) {
            (Some(a), _) => json!(a),
            (None, None) => json!([]),
            (None, Some(_)) => Json::Null,
        },
    );
    if host_network {
        app.insert(
            "port_definitions".into(),
            json!([{"port": long.host_port, "protocol": "tcp"}]),
        );
        // Without this two tasks on one host could ask for the same fixed port.
        app.insert("require_ports".into(), json!(long.host_port != 0));
    }
    if let Some(roles) = &long.accepted_resource_roles {
        app.insert("accepted_resource_roles".into(), json!(roles));
    }
    let mut definition = Json::Object(app);
    let git_sha = code_sha(image).to_string();
    let config_hash = config_hash(&definition, force_bounce);
    let id = app_id(&config.service, &config.instance, &git_sha, &config_hash);
    definition["id"] = json!(id);
    Ok(App {
        definition,
        id,
        config_hash,
        git_sha,
    })
}

/// The body a Marathon client sends for `definition` (PaaSTA's app definition): what
/// marathon-python's app object writes. Keys are camelCase (`backoff_seconds` →
/// `backoffSeconds`; the env's names are data and stay as they are), null values are left out
/// (`cmd` when `args` is set), and a Docker container states Marathon's defaults
/// `forcePullImage: false` and `privileged: false`. Keys sort as the client's `json.dumps`
/// sorts them, which `pyjson::dumps(.., true)` reproduces.
pub fn wire_body(definition: &Json) -> Json {
    fn camel(key: &str) -> String {
        let mut out = String::with_capacity(key.len());
        let mut upper = false;
        for c in key.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.extend(c.to_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    }
    fn convert(v: &Json, data: bool) -> Json {
        match v {
            Json::Object(m) => Json::Object(
                m.iter()
                    .filter(|(_, x)| !x.is_null())
                    .map(|(k, x)| {
                        let key = if data { k.clone() } else { camel(k) };
                        // The env's values are data too: its keys are names, not fields.
                        (key, convert(x, !data && k == "env"))
                    })
                    .collect(),
            ),
            Json::Array(a) => Json::Array(a.iter().map(|x| convert(x, false)).collect()),
            other => other.clone(),
        }
    }
    let mut body = convert(definition, false);
    if let Some(docker) = body
        .get_mut("container")
        .and_then(|c| c.get_mut("docker"))
        .and_then(Json::as_object_mut)
    {
        docker.entry("forcePullImage").or_insert(json!(false));
        docker.entry("privileged").or_insert(json!(false));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Service;
    use std::path::{Path, PathBuf};

    fn reference() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/reference/marathon-app")
    }

    /// fixtures/reference/marathon-app (PaaSTA v0.86's output): the definition, the exact bytes hashed, the id.
    #[test]
    fn reference_example() {
        let dir = reference();
        let system = SystemConfig::load(&dir.join("etc_paasta")).unwrap();
        let service = Service::load(&dir.join("soa"), "order_api").unwrap();
        let file = service
            .find_instance("testcluster", "canary_eu", None)
            .unwrap();
        let config = service.instance_config(file, "canary_eu").unwrap();
        let deployments = crate::deployments::Deployments::load(&dir.join("soa"), "order_api")
            .unwrap()
            .unwrap();
        let image = format!(
            "{}/{}",
            service.docker_registry(&system).unwrap(),
            deployments
                .deployment(&config.deploy_group)
                .unwrap()
                .docker_image
        );
        let force_bounce = deployments
            .control("order_api", "testcluster", "canary_eu")
            .unwrap()
            .force_bounce
            .clone();
        let desired = config.long_running().unwrap().instances;
        let app = app(&config, &system, &image, force_bounce.as_deref(), desired).unwrap();
        assert_eq!(
            hash_input(&app.definition, force_bounce.as_deref()),
            std::fs::read_to_string(dir.join("expected-hash-input.txt")).unwrap()
        );
        let expected: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected-app.json")).unwrap())
                .unwrap();
        assert_eq!(app.definition, expected);
        let id_file = std::fs::read_to_string(dir.join("expected-id.txt")).unwrap();
        assert!(
            id_file.contains(&format!("app_id={}\n", app.id)),
            "{}",
            app.id
        );
        assert!(id_file.contains(&format!("config_hash={}\n", app.config_hash)));
        // What a Marathon client POSTs for it, byte for byte as its json.dumps sorts it.
        let wire: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected-wire.json")).unwrap())
                .unwrap();
        let body = wire_body(&app.definition);
        assert_eq!(body, wire);
        assert_eq!(pyjson::dumps(&body, true), pyjson::dumps(&wire, true));
        // Scaling does not change the id; a new force_bounce does.
        let mut more = app.definition.clone();
        more["instances"] = json!(7);
        more["backoff_seconds"] = json!(2);
        assert_eq!(config_hash(&more, force_bounce.as_deref()), app.config_hash);
        assert_ne!(
            config_hash(&app.definition, Some("20190302T000000")),
            app.config_hash
        );
    }

    /// The reference's observed computed constraints.
    #[test]
    fn computed_constraints() {
        let dir = tempfile::tempdir().unwrap();
        let soa = dir.path().join("soa/svc");
        std::fs::create_dir_all(&soa).unwrap();
        std::fs::write(
            soa.join("marathon-c.yaml"),
            "main:\n  instances: 1\n  deploy_whitelist: [region, [uswest1, uswest2]]\n",
        )
        .unwrap();
        let system_dir = reference().join("etc_paasta");
        let system = SystemConfig::load(&system_dir).unwrap();
        let service = Service::load(&dir.path().join("soa"), "svc").unwrap();
        let config = service.instance_config(&service.files[0], "main").unwrap();
        let got = constraints(&config, config.long_running().unwrap(), &system, 1);
        let want: Vec<Vec<String>> = serde_json::from_str(r#"[["region","GROUP_BY","2"],["region","LIKE","uswest1|uswest2"],["pool","LIKE","default"],["hostname","UNIQUE"]]"#).unwrap();
        assert_eq!(got, want);
        // A blacklisted region leaves fewer groups, and UNLIKE follows GROUP_BY.
        std::fs::write(
            soa.join("marathon-c.yaml"),
            "main:\n  instances: 3\n  deploy_blacklist: [[region, uswest2]]\n  pool: batch\n",
        )
        .unwrap();
        let service = Service::load(&dir.path().join("soa"), "svc").unwrap();
        let config = service.instance_config(&service.files[0], "main").unwrap();
        let want: Vec<Vec<String>> = serde_json::from_str(
            r#"[["region","GROUP_BY","1"],["region","UNLIKE","uswest2"],["pool","LIKE","batch"]]"#,
        )
        .unwrap();
        assert_eq!(
            constraints(&config, config.long_running().unwrap(), &system, 3),
            want
        );
    }

    #[test]
    fn ids_and_backoff() {
        assert_eq!(
            app_id("order_api", "canary_eu", "cccccccc3333", "config22ba95b5"),
            "order--api.canary--eu.gitcccccccc.config22ba95b5"
        );
        assert_eq!(code_sha("reg:443/services-x:paasta-abc123"), "abc123");
        assert_eq!(
            (
                backoff_seconds(0),
                backoff_seconds(1),
                backoff_seconds(3),
                backoff_seconds(20)
            ),
            (1, 10, 4, 1)
        );
    }
}
