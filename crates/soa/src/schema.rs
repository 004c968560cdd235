//! The keys each file of a soa-configs tree may hold and the type each value must have. One
//! table serves both the typed loader (which checks the keys it reads) and `soa-validate`
//! (which also reports keys no table knows).

use serde_yaml::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceType {
    Marathon,
    Chronos,
    Adhoc,
    /// `kubernetes-<cluster>.yaml`: long-running instances, as marathon ones are here.
    Kubernetes,
    /// `tron-<cluster>.yaml`: jobs of actions, run as scheduled jobs (crate::tron).
    Tron,
}

impl InstanceType {
    pub const ALL: [InstanceType; 5] = [
        InstanceType::Marathon,
        InstanceType::Chronos,
        InstanceType::Adhoc,
        InstanceType::Kubernetes,
        InstanceType::Tron,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceType::Marathon => "marathon",
            InstanceType::Chronos => "chronos",
            InstanceType::Adhoc => "adhoc",
            InstanceType::Kubernetes => "kubernetes",
            InstanceType::Tron => "tron",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What runs it here: kubernetes instances are long-running as marathon ones, tron actions
    /// are scheduled jobs as chronos ones.
    pub fn family(self) -> InstanceType {
        match self {
            InstanceType::Kubernetes => InstanceType::Marathon,
            InstanceType::Tron => InstanceType::Chronos,
            other => other,
        }
    }

    /// Whether a file of this type is asked for by `wanted`: its own type, or its family.
    pub fn counts_as(self, wanted: InstanceType) -> bool {
        self == wanted || self.family() == wanted
    }

    /// The table bits of the keys this type takes: a kubernetes instance takes every marathon
    /// key too; a tron file's actions become chronos jobs.
    fn mask(self) -> u8 {
        match self {
            InstanceType::Marathon => M,
            InstanceType::Chronos => C,
            InstanceType::Adhoc => A,
            InstanceType::Kubernetes => M | K,
            InstanceType::Tron => C | T,
        }
    }
}

/// Instance file types PaaSTA has that are not run here: said, never guessed at.
pub const UNSUPPORTED_TYPES: &[&str] = &[
    "eks",
    "flink",
    "cassandracluster",
    "kafkacluster",
    "flinkeks",
    "vitesscluster",
    "nrtsearchservice",
    "nrtsearchserviceeks",
    "monkrelays",
];

impl std::fmt::Display for InstanceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const M: u8 = 1;
const C: u8 = 2;
const A: u8 = 4;
const K: u8 = 8;
const T: u8 = 16;
const ALL: u8 = M | C | A;

/// The shape a value must have.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A number, at least `min` (strictly greater when `exclusive`), at most `max`.
    Number {
        min: f64,
        exclusive: bool,
        max: f64,
    },
    Integer {
        min: i64,
        max: i64,
    },
    Bool,
    Str,
    StrList,
    /// A string, or a list of strings (joined with spaces where one string is needed).
    Cmd,
    /// A mapping of names to scalar values (env, extra_docker_args).
    StrMap,
    /// A list of `{containerPath, hostPath, mode: RO|RW}`.
    Volumes,
    /// A list of lists of strings (Marathon constraints).
    Constraints,
    Mapping,
    List,
    OneOf(&'static [&'static str]),
    /// Either an integer of seconds or a duration such as "2m" (units Y M W D h m s).
    AlertDuration,
    /// Like `StrList`, and null means none.
    OptStrList,
    /// The inner kind, or null (unset).
    OrNull(&'static Kind),
    /// Anything: a key accepted and not used here.
    Any,
}

pub struct KeySpec {
    pub name: &'static str,
    pub kind: Kind,
    types: u8,
}

const fn k(name: &'static str, kind: Kind, types: u8) -> KeySpec {
    KeySpec { name, kind, types }
}

const POS: Kind = Kind::Number {
    min: 0.0,
    exclusive: true,
    max: f64::MAX,
};
const NONNEG: Kind = Kind::Number {
    min: 0.0,
    exclusive: false,
    max: f64::MAX,
};
const COUNT: Kind = Kind::Integer {
    min: 0,
    max: i64::MAX,
};
const PORT: Kind = Kind::Integer { min: 0, max: 65535 };
const NUMBER: Kind = Kind::Number {
    min: f64::MIN,
    exclusive: false,
    max: f64::MAX,
};
const ANY_INT: Kind = Kind::Integer {
    min: i64::MIN,
    max: i64::MAX,
};

/// Keys of an instance in `marathon-`, `chronos-` and `adhoc-<cluster>.yaml`.
pub static INSTANCE_KEYS: &[KeySpec] = &[
    k("cpus", POS, ALL),
    k(
        "mem",
        Kind::Number {
            min: 32.0,
            exclusive: false,
            max: f64::MAX,
        },
        ALL,
    ),
    k("disk", NONNEG, ALL),
    k("cmd", Kind::Cmd, ALL),
    k("args", Kind::StrList, ALL),
    k("env", Kind::StrMap, ALL),
    k("extra_volumes", Kind::Volumes, ALL),
    k("deploy_group", Kind::Str, ALL),
    k("net", Kind::OneOf(&["bridge", "host"]), ALL),
    k("cap_add", Kind::StrList, ALL),
    k("constraints", Kind::Constraints, ALL),
    k("extra_constraints", Kind::Constraints, ALL),
    k("pool", Kind::Str, ALL),
    k("deploy_blacklist", Kind::List, ALL),
    k("deploy_whitelist", Kind::List, ALL),
    k("monitoring", Kind::Mapping, ALL),
    k("data", Kind::Mapping, ALL),
    k("dependencies_reference", Kind::Str, ALL),
    k("dependencies", Kind::Mapping, ALL),
    k("extra_docker_args", Kind::StrMap, ALL),
    k(
        "cfs_period_us",
        Kind::Integer {
            min: 1000,
            max: 1_000_000,
        },
        ALL,
    ),
    k("cpu_burst_add", NONNEG, ALL),
    k("security", Kind::Mapping, ALL),
    k("role", Kind::Str, ALL),
    k("iam_role", Kind::Str, ALL),
    k("docker_registry", Kind::Str, ALL),
    k("gpus", COUNT, M | A),
    // long-running (marathon) instances
    k("instances", COUNT, M),
    k("min_instances", COUNT, M),
    k("max_instances", COUNT, M),
    k("backoff_factor", POS, M),
    k("max_launch_delay_seconds", NONNEG, M),
    k("registrations", Kind::StrList, M),
    k("nerve_ns", Kind::Str, M),
    k(
        "bounce_method",
        Kind::OneOf(&["crossover", "brutal", "upthendown", "downthenup"]),
        M,
    ),
    k("bounce_health_params", Kind::Mapping, M),
    k(
        "bounce_margin_factor",
        Kind::Number {
            min: 0.0,
            exclusive: true,
            max: 1.0,
        },
        M,
    ),
    k("autoscaling", Kind::Mapping, M),
    k(
        "drain_method",
        Kind::OneOf(&["noop", "hacheck", "http", "test"]),
        M,
    ),
    k("drain_method_params", Kind::Mapping, M),
    k("container_port", PORT, M),
    k(
        "healthcheck_mode",
        Kind::OneOf(&["http", "https", "tcp", "cmd"]),
        M,
    ),
    k("healthcheck_cmd", Kind::Str, M),
    k("healthcheck_uri", Kind::Str, M),
    k("healthcheck_grace_period_seconds", NONNEG, M),
    k("healthcheck_interval_seconds", POS, M),
    k("healthcheck_timeout_seconds", POS, M),
    k(
        "healthcheck_max_consecutive_failures",
        Kind::Integer {
            min: 1,
            max: i64::MAX,
        },
        M,
    ),
    k(
        "replication_threshold",
        Kind::Integer { min: 0, max: 100 },
        M,
    ),
    k("monitoring_blacklist", Kind::List, M),
    k("accepted_resource_roles", Kind::StrList, M),
    k("host_port", PORT, M),
    k("marathon_shard", COUNT, M),
    k("previous_marathon_shards", Kind::List, M),
    k("bounce_priority", ANY_INT, M),
    k("bounce_start_deadline", NONNEG, M),
    k("sfn_autoscaling", Kind::Mapping, M),
    // scheduled (chronos) jobs
    k("schedule", Kind::Str, C),
    k("parents", Kind::OptStrList, C),
    k("epsilon", Kind::Str, C),
    k("retries", COUNT, C),
    k("schedule_time_zone", Kind::Str, C),
    k("disabled", Kind::Bool, C),
    k("shell", Kind::Bool, C),
    k(
        "time_variable_syntax",
        Kind::OneOf(&["percent", "brace"]),
        C,
    ),
    // Later PaaSTA documents it for jobs too; a job's run is not bounced here.
    k("bounce_method", Kind::Str, C),
    // PaaSTA's kubernetes schema: accepted, unused here (they do not change how a task runs on
    // these backends); soa-validate --verbose lists them.
    k("anti_affinity", Kind::Any, K),
    k("anti_affinity_preferred", Kind::Any, K),
    k("autotune_limits", Kind::Any, K),
    k("aws_ebs_volumes", Kind::List, K),
    k("boto_keys", Kind::StrList, K),
    k("crypto_keys", Kind::Mapping, K),
    k("datastore_credentials", Kind::Mapping, K),
    k("enable_aws_lb_readiness_gate", Kind::Bool, K),
    k("fs_group", ANY_INT, K),
    k("fs_group_change_policy", Kind::Str, K),
    k("iam_role_provider", Kind::Str, K),
    k("is_istio_sidecar_injection_enabled", Kind::Bool, K),
    k("lifecycle", Kind::Mapping, K),
    k("namespace", Kind::Str, K),
    k("node_selectors", Kind::Mapping, K),
    k("node_selectors_preferred", Kind::List, K),
    k("persistent_volumes", Kind::List, K),
    k(
        "pod_management_policy",
        Kind::OneOf(&["OrderedReady", "Parallel"]),
        K,
    ),
    k("projected_sa_volumes", Kind::List, K),
    k("prometheus_path", Kind::Str, K),
    k("prometheus_port", PORT, K),
    k("prometheus_shard", Kind::Str, K),
    k("routable_ip", Kind::Bool, K),
    k("secret_volumes", Kind::List, K),
    k("service_account_name", Kind::Str, K),
    k("sidecar_resource_requirements", Kind::Mapping, K),
    k("topology_spread_constraints", Kind::List, K),
    k("uses_bulkdata", Kind::Bool, K),
    k("weight", ANY_INT, K),
];

/// Keys of a kubernetes instance that are accepted and not used here.
pub fn unused_kubernetes_key(key: &str) -> bool {
    INSTANCE_KEYS.iter().any(|s| s.name == key && s.types == K)
}

/// Keys of one job of `tron-<cluster>.yaml` (PaaSTA's tron schema). Used here: schedule,
/// actions, enabled, time_zone, deploy_group, monitoring; the rest is accepted and unused.
pub static TRON_JOB_KEYS: &[KeySpec] = &[
    k("schedule", Kind::Any, T),
    k("actions", Kind::Any, T),
    k("enabled", Kind::Bool, T),
    k("time_zone", Kind::Str, T),
    k("deploy_group", Kind::Str, T),
    k("monitoring", Kind::Mapping, T),
    k("name", Kind::Str, T),
    k("node", Kind::Str, T),
    k("cluster", Kind::Str, T),
    k("service", Kind::Str, T),
    k("all_nodes", Kind::Bool, T),
    k("allow_overlap", Kind::Bool, T),
    k("cleanup_action", Kind::Mapping, T),
    k("cost_owner", Kind::Str, T),
    k("expected_runtime", Kind::Str, T),
    k("max_runtime", Kind::Str, T),
    k("queueing", Kind::Bool, T),
    k("run_limit", COUNT, T),
];
pub const TRON_JOB_KEYS_USED: &[&str] = &[
    "schedule",
    "actions",
    "enabled",
    "time_zone",
    "deploy_group",
    "monitoring",
    "name",
];

/// Keys of one action of a tron job. Used here: command, requires, name and the keys a
/// chronos job has (cpus, mem, disk, env, cap_add, constraints, extra_constraints,
/// extra_volumes, pool, retries, deploy_group); the rest is accepted and unused.
pub static TRON_ACTION_KEYS: &[KeySpec] = &[
    k("command", Kind::Str, T),
    k("requires", Kind::StrList, T),
    k("name", Kind::Str, T),
    k("cpus", POS, T),
    k(
        "mem",
        Kind::Number {
            min: 32.0,
            exclusive: false,
            max: f64::MAX,
        },
        T,
    ),
    k("disk", NONNEG, T),
    k("env", Kind::StrMap, T),
    k("cap_add", Kind::StrList, T),
    k("constraints", Kind::Constraints, T),
    k("extra_constraints", Kind::Constraints, T),
    k("extra_volumes", Kind::Volumes, T),
    k("pool", Kind::Str, T),
    k("retries", COUNT, T),
    k("deploy_group", Kind::Str, T),
    k("node", Kind::Str, T),
    k("retries_delay", Kind::Str, T),
    k("executor", Kind::OneOf(&["ssh", "paasta", "spark"]), T),
    k("expected_runtime", Kind::Str, T),
    k("max_runtime", Kind::Str, T),
    k("idempotent", Kind::Bool, T),
    k("service", Kind::Str, T),
    k("cluster", Kind::Str, T),
    k("cost_owner", Kind::Str, T),
    k("service_account_name", Kind::Str, T),
    k("iam_role", Kind::Str, T),
    k("iam_role_provider", Kind::Str, T),
    k("node_selectors", Kind::Mapping, T),
    k("boto_keys", Kind::StrList, T),
    k("crypto_keys", Kind::Mapping, T),
    k("ssm_secrets", Kind::List, T),
    k("datastore_credentials", Kind::Mapping, T),
    k("uses_bulkdata", Kind::Bool, T),
    k("secret_volumes", Kind::List, T),
    k("projected_sa_volumes", Kind::List, T),
    k("aws_credentials", Kind::Str, T),
    k("mrjob", Kind::Bool, T),
    k("spark_args", Kind::Mapping, T),
    k("force_spark_resource_configs", Kind::Bool, T),
    k("on_upstream_rerun", Kind::Str, T),
    k("trigger_downstreams", Kind::Any, T),
    k("trigger_timeout", Kind::Str, T),
    k("triggered_by", Kind::StrList, T),
];
/// The keys of a tron action a scheduled job has too, passed to it as they are.
pub const TRON_ACTION_KEYS_PASSED: &[&str] = &[
    "cpus",
    "mem",
    "disk",
    "env",
    "cap_add",
    "constraints",
    "extra_constraints",
    "extra_volumes",
    "pool",
    "retries",
];

/// Whether a tron action key is used here: the passed ones, and those that make the job.
pub fn tron_action_key_used(key: &str) -> bool {
    TRON_ACTION_KEYS_PASSED.contains(&key)
        || ["command", "requires", "name", "deploy_group"].contains(&key)
}

/// Keys of service.yaml of its own; any instance key may also be set there as a default.
pub static SERVICE_KEYS: &[KeySpec] = &[
    k("description", Kind::Str, ALL),
    k("external_link", Kind::Str, ALL),
    k("git_url", Kind::Str, ALL),
    k("docker_registry", Kind::Str, ALL),
    k("owner", Kind::Str, ALL),
    k("cost_owner", Kind::Str, ALL),
    k("needs_puppet_help", Kind::Bool, ALL),
];

/// Keys of monitoring.yaml and of an instance's `monitoring` mapping.
pub static MONITORING_KEYS: &[KeySpec] = &[
    k("team", Kind::Str, ALL),
    k("runbook", Kind::Str, ALL),
    k("tip", Kind::Str, ALL),
    k("page", Kind::Bool, ALL),
    k("notification_email", Kind::Str, ALL),
    k("irc_channels", Kind::StrList, ALL),
    k("slack_channels", Kind::StrList, ALL),
    k("ticket", Kind::Bool, ALL),
    k("project", Kind::Str, ALL),
    k("priority", Kind::Str, ALL),
    k("tags", Kind::StrList, ALL),
    k("component", Kind::Str, ALL),
    k("description", Kind::Str, ALL),
    k("alert_after", Kind::AlertDuration, ALL),
    k("realert_every", Kind::AlertDuration, ALL),
    k("check_every", Kind::AlertDuration, ALL),
    k("check_oom_events", Kind::Bool, ALL),
    k(
        "replication_threshold",
        Kind::Integer { min: 0, max: 100 },
        ALL,
    ),
];

/// Keys of one namespace in smartstack.yaml.
pub static SMARTSTACK_KEYS: &[KeySpec] = &[
    k("proxy_port", Kind::OrNull(&PORT), ALL),
    k("port", PORT, ALL),
    k("mode", Kind::OneOf(&["http", "https", "tcp"]), ALL),
    k("healthcheck_uri", Kind::Str, ALL),
    k(
        "healthcheck_mode",
        Kind::OneOf(&["http", "https", "tcp"]),
        ALL,
    ),
    k("healthcheck_port", PORT, ALL),
    k("healthcheck_timeout_s", POS, ALL),
    k("healthcheck_body_expect", Kind::Str, ALL),
    k("discover", Kind::Str, ALL),
    k("advertise", Kind::StrList, ALL),
    k("extra_advertise", Kind::Mapping, ALL),
    k("extra_healthcheck_headers", Kind::StrMap, ALL),
    k("timeout_connect_ms", COUNT, ALL),
    k("timeout_server_ms", COUNT, ALL),
    k("timeout_client_ms", COUNT, ALL),
    k("retries", COUNT, ALL),
    k("lb_policy", Kind::Str, ALL),
    k("updown_timeout_s", COUNT, ALL),
    k("is_proxy_port_shared", Kind::Bool, ALL),
    k("allredisp", Kind::Bool, ALL),
    k("extra_headers", Kind::Mapping, ALL),
    k("proxied_through", Kind::Str, ALL),
    k("idle_timeout", COUNT, ALL),
    k("balance", Kind::OneOf(&["leastconn", "roundrobin"]), ALL),
    k("choice_count", COUNT, ALL),
    k("chaos", Kind::Mapping, ALL),
    k("clb_proxy", Kind::Str, ALL),
    k("fixed_delay", Kind::Mapping, ALL),
    k("is_proxy", Kind::Bool, ALL),
    k("plugins", Kind::Mapping, ALL),
    k("endpoint_timeouts", Kind::Mapping, ALL),
];

/// Keys of deploy.yaml, and of one step of its pipeline.
pub static DEPLOY_KEYS: &[KeySpec] = &[
    k("pipeline", Kind::List, ALL),
    k("slack_channels", Kind::StrList, ALL),
    k("slack_notify", Kind::Bool, ALL),
    k("production_deploy_group", Kind::Str, ALL),
    k("allowed_push_groups", Kind::StrList, ALL),
    k("allow_no_verify_deploy", Kind::Bool, ALL),
    k(
        "default_deploy_strategy",
        Kind::OneOf(&["verify", "no-verify"]),
        ALL,
    ),
];
pub static STEP_KEYS: &[KeySpec] = &[
    k("step", Kind::Str, ALL),
    k("trigger_next_step_manually", Kind::Bool, ALL),
    k("wait_for_deployment", Kind::Bool, ALL),
    k("notify_after_mark", Kind::Bool, ALL),
    k("notify_after_good_deploy", Kind::Bool, ALL),
    k("notify_after_auto_rollback", Kind::Bool, ALL),
    k("parallel", Kind::List, ALL),
    k("disabled", Kind::Bool, ALL),
    k("display_step_for_confirmation", Kind::Bool, ALL),
    k("confirmation_required", Kind::Bool, ALL),
    k("auto_rollback", Kind::Bool, ALL),
    k("auto_certify_delay", ANY_INT, ALL),
    k("auto_abandon_delay", ANY_INT, ALL),
    k("auto_rollback_delay", ANY_INT, ALL),
    k("timeout", ANY_INT, ALL),
    k("warn", ANY_INT, ALL),
    k("command", Kind::Str, ALL),
    k("slack_notify", Kind::Bool, ALL),
    k("ignore_failure", Kind::Bool, ALL),
    k("notify_after_abort", Kind::Bool, ALL),
    k("deployment_steps", Kind::List, ALL),
    k("abandon_above_breakage_pct", NUMBER, ALL),
    k("complete_below_breakage_pct", NUMBER, ALL),
    k("prompt_after_abandon", Kind::Bool, ALL),
    k("confirm_complete", Kind::Bool, ALL),
    k("enable_automated_redeploys", Kind::Bool, ALL),
    k("alertmanager_rollback", Kind::Bool, ALL),
    k("alertmanager_rollback_dry_run", Kind::Bool, ALL),
    k("alertmanager_poll_interval_s", ANY_INT, ALL),
    k("enable_crashloop_auto_rollback", Kind::Bool, ALL),
    k("min_restarts_for_crashloop_rollback", ANY_INT, ALL),
    k("crashloop_rollback_percentage_threshold", NUMBER, ALL),
    k("service_account", Kind::Str, ALL),
];

/// The spec of `key` in `table`, whatever the instance types it is for.
pub fn find<'a>(table: &'a [KeySpec], key: &str) -> Option<&'a KeySpec> {
    table.iter().find(|s| s.name == key)
}

/// The spec of `key` in `table`, if the key is allowed for instances of type `ty`.
pub fn lookup<'a>(table: &'a [KeySpec], key: &str, ty: InstanceType) -> Option<&'a KeySpec> {
    table
        .iter()
        .find(|s| s.name == key && s.types & ty.mask() != 0)
}

/// Whether `key` is an instance key for some other type (for a more helpful message).
pub fn other_types_of(key: &str) -> Vec<InstanceType> {
    // Kubernetes and tron take their family's keys: naming the family says enough.
    InstanceType::ALL
        .into_iter()
        .filter(|t| t.family() == *t && lookup(INSTANCE_KEYS, key, *t).is_some())
        .collect()
}

/// What a value should have been, in words ("a number at least 0").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {0}")]
pub struct Expected(pub String);

/// Checks `value` against `kind`; on failure, the expectation in words.
pub fn check(kind: Kind, value: &Value) -> Result<(), Expected> {
    expect(kind, value).map_err(Expected)
}

fn expect(kind: Kind, value: &Value) -> Result<(), String> {
    let ok = match kind {
        Kind::Number {
            min,
            exclusive,
            max,
        } => match value.as_f64() {
            Some(n) if n.is_finite() => {
                let low_ok = if exclusive { n > min } else { n >= min };
                if low_ok && n <= max {
                    return Ok(());
                }
                let low = if exclusive {
                    format!("greater than {min}")
                } else {
                    format!("at least {min}")
                };
                return Err(if max < f64::MAX {
                    format!("a number {low} and at most {max}")
                } else {
                    format!("a number {low}")
                });
            }
            _ => false,
        },
        Kind::Integer { min, max } => match value.as_i64() {
            Some(n) => {
                if n >= min && n <= max {
                    return Ok(());
                }
                return Err(if max < i64::MAX {
                    format!("an integer from {min} to {max}")
                } else {
                    format!("an integer of at least {min}")
                });
            }
            None => false,
        },
        Kind::Bool => value.is_bool(),
        Kind::Str => value.is_string(),
        Kind::StrList => is_str_list(value),
        Kind::OptStrList => value.is_null() || is_str_list(value),
        Kind::Cmd => value.is_string() || is_str_list(value),
        Kind::StrMap => value.as_mapping().is_some_and(|m| {
            m.iter()
                .all(|(k, v)| k.is_string() && (v.is_string() || v.is_number() || v.is_bool()))
        }),
        Kind::Volumes => return check_volumes(value),
        Kind::Constraints => value
            .as_sequence()
            .is_some_and(|items| items.iter().all(is_str_list)),
        Kind::Mapping => value.is_mapping(),
        Kind::List => value.is_sequence(),
        Kind::Any => true,
        Kind::OneOf(options) => {
            if value.as_str().is_some_and(|s| options.contains(&s)) {
                return Ok(());
            }
            return Err(format!("one of {}", options.join(", ")));
        }
        Kind::OrNull(inner) => {
            if value.is_null() {
                return Ok(());
            }
            return expect(*inner, value).map_err(|e| format!("{e}, or null"));
        }
        Kind::AlertDuration => match value {
            // -1 means "never" (realert_every's default).
            Value::Number(n) => n.as_i64().is_some_and(|n| n >= -1),
            Value::String(s) => parse_alert_duration(s).is_some(),
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(expectation(kind).to_string())
    }
}

fn expectation(kind: Kind) -> &'static str {
    match kind {
        Kind::Number { .. } => "a number",
        Kind::Integer { .. } => "an integer",
        Kind::Bool => "true or false",
        Kind::Str => "a string",
        Kind::StrList => "a list of strings",
        Kind::OptStrList => "a list of strings or null",
        Kind::OrNull(_) => "a value or null",
        Kind::Cmd => "a string, or a list of strings",
        Kind::StrMap => "a mapping of names to strings",
        Kind::Volumes => "a list of {containerPath, hostPath, mode: RO|RW}",
        Kind::Constraints => {
            "a list of constraints, each a list of strings such as [region, LIKE, uswest1]"
        }
        Kind::Mapping => "a mapping",
        Kind::List => "a list",
        Kind::Any => "anything",
        Kind::OneOf(_) => "one of the allowed values",
        Kind::AlertDuration => {
            "seconds, or a duration such as \"2m\", \"1h30m\" (units Y M W D h m s)"
        }
    }
}

fn is_str_list(v: &Value) -> bool {
    v.as_sequence()
        .is_some_and(|items| items.iter().all(|i| i.is_string() || i.is_number()))
}

fn check_volumes(value: &Value) -> Result<(), String> {
    let Some(items) = value.as_sequence() else {
        return Err(expectation(Kind::Volumes).into());
    };
    for (i, item) in items.iter().enumerate() {
        let Some(m) = item.as_mapping() else {
            return Err(format!(
                "entry {i} to be a mapping {{containerPath, hostPath, mode}}"
            ));
        };
        for key in ["containerPath", "hostPath"] {
            match m.get(key) {
                Some(Value::String(p)) if p.starts_with('/') => {}
                Some(Value::String(p)) => {
                    return Err(format!("entry {i} {key} to be an absolute path, not {p:?}"))
                }
                _ => return Err(format!("entry {i} to have {key} (an absolute path)")),
            }
        }
        match m.get("mode").and_then(Value::as_str) {
            Some("RO" | "RW") => {}
            _ => return Err(format!("entry {i} mode to be RO or RW")),
        }
        if let Some(extra) = m
            .keys()
            .filter_map(Value::as_str)
            .find(|k| !["containerPath", "hostPath", "mode"].contains(k))
        {
            return Err(format!(
                "entry {i} to hold only containerPath, hostPath and mode, not {extra}"
            ));
        }
    }
    Ok(())
}

/// Parses Sensu-style durations ("2m", "1h30m", "1D"): units Y M W D h m s. Returns seconds.
pub fn parse_alert_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'Y' => 365 * 86400,
            'M' => 30 * 86400,
            'W' => 7 * 86400,
            'D' => 86400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total += n * unit;
        num.clear();
    }
    if num.is_empty() {
        Some(total)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn kinds() {
        assert!(check(POS, &y("0.25")).is_ok());
        assert_eq!(
            check(POS, &y("0")).unwrap_err().0,
            "a number greater than 0"
        );
        assert_eq!(check(POS, &y("lots")).unwrap_err().0, "a number");
        assert!(check(Kind::Cmd, &y("[a, b]")).is_ok());
        assert!(check(
            Kind::Volumes,
            &y("[{containerPath: /a, hostPath: /b, mode: RO}]")
        )
        .is_ok());
        assert!(check(
            Kind::Volumes,
            &y("[{containerPath: /a, hostPath: b, mode: RO}]")
        )
        .unwrap_err()
        .0
        .contains("absolute"));
        assert!(check(
            Kind::Volumes,
            &y("[{containerPath: /a, hostPath: /b, mode: rw}]")
        )
        .is_err());
        assert!(check(Kind::OneOf(&["a", "b"]), &y("c"))
            .unwrap_err()
            .0
            .contains("one of a, b"));
    }

    #[test]
    fn alert_durations() {
        assert_eq!(parse_alert_duration("2m"), Some(120));
        assert_eq!(parse_alert_duration("1h30m"), Some(5400));
        assert_eq!(parse_alert_duration("90"), Some(90));
        assert_eq!(parse_alert_duration("2x"), None);
        assert_eq!(parse_alert_duration("m"), None);
    }
}
