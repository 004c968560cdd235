//! `extra_docker_args`: `docker run` long options written in an instance as a mapping
//! (`{shm-size: 1g, ulimit: "nofile=1024:2048"}`). PaaSTA passed them to the docker CLI; we create
//! containers through the Engine API, so each option is parsed here, once, into the field the
//! API has for it. An option the API cannot express, or a value the option cannot take, is a
//! config error naming the option (soa-validate reports it), never silently dropped.
//!
//! The raw pairs still enter the hashed app definition and the dry-run argv unchanged
//! (`InstanceConfig::extra_docker_args`).

/// One `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// One `--device host[:container[:permissions]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Device {
    pub host: String,
    pub container: String,
    pub permissions: String,
}

/// One `--mount type=…,source=…,target=…[,readonly]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct MountArg {
    /// bind, volume or tmpfs.
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

/// The options of `extra_docker_args` that the Engine API expresses, as its fields want them.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct DockerOptions {
    pub shm_size: Option<i64>,
    pub ulimits: Vec<Ulimit>,
    pub sysctls: Vec<(String, String)>,
    pub devices: Vec<Device>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    /// `host:ip`, as the API takes them.
    pub extra_hosts: Vec<String>,
    pub hostname: Option<String>,
    pub labels: Vec<(String, String)>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// Container path → mount options.
    pub tmpfs: Vec<(String, String)>,
    pub mounts: Vec<MountArg>,
    pub memory_reservation: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub init: Option<bool>,
    pub read_only: Option<bool>,
    pub security_opt: Vec<String>,
    pub oom_kill_disable: Option<bool>,
    pub log_driver: Option<String>,
    pub log_opts: Vec<(String, String)>,
    /// A user-defined network to join instead of the default bridge (`network-alias` needs one).
    pub network: Option<String>,
    pub network_aliases: Vec<String>,
}

/// The options this module maps, for messages.
pub const MAPPED: &str = "shm-size, ulimit, sysctl, device, cap-add, cap-drop, dns, dns-search, \
     add-host, hostname, label, env, user, workdir, tmpfs, mount, memory-reservation, \
     cpuset-cpus, pids-limit, init, read-only, security-opt, oom-kill-disable, log-driver, \
     log-opt, network, network-alias";

/// Options that mean the same under two names.
fn canonical(option: &str) -> &str {
    match option {
        "net" => "network",
        "net-alias" => "network-alias",
        "add-host" | "add_host" => "add-host",
        "w" => "workdir",
        "h" => "hostname",
        "u" => "user",
        "l" => "label",
        "e" => "env",
        other => other,
    }
}

/// `64m`, `1g`, `512`, `1.5GiB`: bytes, with binary multiples as docker reads them.
pub fn parse_size(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let n: f64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    (n >= 0.0).then_some((n * mult) as i64)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn key_value(s: &str) -> Option<(String, String)> {
    let (k, v) = s.split_once('=')?;
    (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
}

fn ulimit(s: &str) -> Option<Ulimit> {
    let (name, limits) = s.split_once('=')?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let soft: i64 = soft.trim().parse().ok()?;
    let hard: i64 = hard.trim().parse().ok()?;
    (!name.is_empty() && (soft <= hard || hard == -1)).then(|| Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

fn device(s: &str) -> Option<Device> {
    let mut parts = s.split(':');
    let host = parts.next().filter(|h| h.starts_with('/'))?.to_string();
    let container = parts.next().unwrap_or(&host).to_string();
    let permissions = parts.next().unwrap_or("rwm").to_string();
    let perms_ok = !permissions.is_empty() && permissions.chars().all(|c| "rwm".contains(c));
    (parts.next().is_none() && container.starts_with('/') && perms_ok).then_some(Device {
        host,
        container,
        permissions,
    })
}

fn mount(s: &str) -> Option<MountArg> {
    let mut m = MountArg {
        kind: "volume".into(),
        ..Default::default()
    };
    for field in s.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => m.kind = v.to_string(),
            "source" | "src" => m.source = Some(v.to_string()),
            "target" | "destination" | "dst" => m.target = v.to_string(),
            "readonly" | "ro" => m.read_only = parse_bool(v)?,
            _ => return None,
        }
    }
    let kind_ok = ["bind", "volume", "tmpfs"].contains(&m.kind.as_str());
    let source_ok = m.kind != "bind" || m.source.as_deref().is_some_and(|p| p.starts_with('/'));
    (kind_ok && source_ok && m.target.starts_with('/')).then_some(m)
}

impl DockerOptions {
    /// Parses `extra_docker_args` in file order. The error is (option, what is wrong).
    pub fn parse(args: &[(String, String)]) -> Result<DockerOptions, (String, String)> {
        let mut o = DockerOptions::default();
        for (raw, value) in args {
            let option = canonical(raw.trim_start_matches('-'));
            let bad = |expected: &str| (raw.clone(), format!("{raw}: {value:?} is not {expected}"));
            let v = value.as_str();
            match option {
                "shm-size" => o.shm_size = Some(parse_size(v).ok_or_else(|| bad("a size such as 64m or 1g"))?),
                "memory-reservation" => {
                    o.memory_reservation =
                        Some(parse_size(v).ok_or_else(|| bad("a size such as 512m"))?)
                }
                "ulimit" => o.ulimits.push(ulimit(v).ok_or_else(|| bad("NAME=SOFT[:HARD], e.g. nofile=1024:2048"))?),
                "sysctl" => o.sysctls.push(key_value(v).ok_or_else(|| bad("NAME=VALUE, e.g. net.core.somaxconn=1024"))?),
                "device" => o.devices.push(device(v).ok_or_else(|| bad("HOST[:CONTAINER[:rwm]] with absolute paths, e.g. /dev/fuse"))?),
                "cap-add" => o.cap_add.push(v.to_string()),
                "cap-drop" => o.cap_drop.push(v.to_string()),
                "dns" => o.dns.push(
                    v.parse::<std::net::IpAddr>()
                        .map_err(|_| bad("an IP address"))?
                        .to_string(),
                ),
                "dns-search" => o.dns_search.push(v.to_string()),
                "add-host" => {
                    let ok = v.split_once(':').is_some_and(|(h, ip)| {
                        !h.is_empty() && ip.parse::<std::net::IpAddr>().is_ok()
                    });
                    if !ok {
                        return Err(bad("HOST:IP, e.g. db.local:10.0.0.5"));
                    }
                    o.extra_hosts.push(v.to_string());
                }
                "hostname" => o.hostname = Some(v.to_string()),
                "label" => o.labels.push(key_value(v).ok_or_else(|| bad("KEY=VALUE"))?),
                "env" => o.env.push(key_value(v).ok_or_else(|| bad("NAME=VALUE"))?),
                "user" => o.user = Some(v.to_string()),
                "workdir" => {
                    if !v.starts_with('/') {
                        return Err(bad("an absolute path"));
                    }
                    o.workdir = Some(v.to_string())
                }
                "tmpfs" => {
                    let (path, opts) = v.split_once(':').unwrap_or((v, ""));
                    if !path.starts_with('/') {
                        return Err(bad("PATH[:OPTIONS] with an absolute path, e.g. /run:rw,size=64m"));
                    }
                    o.tmpfs.push((path.to_string(), opts.to_string()));
                }
                "mount" => o.mounts.push(mount(v).ok_or_else(|| bad("type=bind|volume|tmpfs,source=…,target=/path[,readonly]"))?),
                "cpuset-cpus" => {
                    let ok = !v.is_empty()
                        && v.split(',').all(|r| {
                            let (a, b) = r.split_once('-').unwrap_or((r, r));
                            a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok()
                        });
                    if !ok {
                        return Err(bad("a CPU list such as 0-3 or 0,2"));
                    }
                    o.cpuset_cpus = Some(v.to_string());
                }
                "pids-limit" => {
                    o.pids_limit = Some(v.trim().parse().map_err(|_| bad("an integer"))?)
                }
                "init" => o.init = Some(parse_bool(v).ok_or_else(|| bad("true or false"))?),
                "read-only" => {
                    o.read_only = Some(parse_bool(v).ok_or_else(|| bad("true or false"))?)
                }
                "oom-kill-disable" => {
                    o.oom_kill_disable = Some(parse_bool(v).ok_or_else(|| bad("true or false"))?)
                }
                "security-opt" => o.security_opt.push(v.to_string()),
                "log-driver" => o.log_driver = Some(v.to_string()),
                "log-opt" => o.log_opts.push(key_value(v).ok_or_else(|| bad("KEY=VALUE"))?),
                "network" => {
                    if ["bridge", "host", "none", ""].contains(&v) || v.starts_with("container:") {
                        return Err(bad("a user-defined network (use the instance's net key for bridge or host)"));
                    }
                    o.network = Some(v.to_string())
                }
                "network-alias" => o.network_aliases.push(v.to_string()),
                _ => {
                    return Err((
                        raw.clone(),
                        format!(
                            "{raw} cannot be given to the Docker Engine API by this toolkit; the options it maps are: {MAPPED}"
                        ),
                    ))
                }
            }
        }
        if !o.network_aliases.is_empty() && o.network.is_none() {
            return Err((
                "network-alias".into(),
                "network-alias needs a user-defined network: add `network: <name>` to extra_docker_args (Docker gives no aliases on the default bridge)".into(),
            ));
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<DockerOptions, (String, String)> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DockerOptions::parse(&owned)
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("12x"), None);
    }

    #[test]
    fn every_option_maps() {
        let o = parse(&[
            ("shm-size", "1g"),
            ("ulimit", "nofile=1024:2048"),
            ("sysctl", "net.core.somaxconn=1024"),
            ("device", "/dev/fuse"),
            ("cap-add", "SYS_ADMIN"),
            ("cap-drop", "NET_ADMIN"),
            ("dns", "10.0.0.2"),
            ("dns-search", "example.com"),
            ("add-host", "db.local:10.0.0.5"),
            ("hostname", "web1"),
            ("label", "team=core"),
            ("env", "A=b"),
            ("user", "65534"),
            ("workdir", "/srv"),
            ("tmpfs", "/run:rw,size=64m"),
            ("mount", "type=bind,source=/etc,target=/host-etc,readonly"),
            ("memory-reservation", "256m"),
            ("cpuset-cpus", "0"),
            ("pids-limit", "100"),
            ("init", "false"),
            ("read-only", "true"),
            ("security-opt", "no-new-privileges"),
            ("oom-kill-disable", "true"),
            ("log-driver", "json-file"),
            ("log-opt", "max-size=10m"),
            ("network", "svcnet"),
            ("network-alias", "web"),
        ])
        .unwrap();
        assert_eq!(o.shm_size, Some(1 << 30));
        assert_eq!(
            o.ulimits,
            [Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            }]
        );
        assert_eq!(o.devices[0].container, "/dev/fuse");
        assert_eq!(o.devices[0].permissions, "rwm");
        assert!(o.mounts[0].read_only);
        assert_eq!(o.init, Some(false));
        assert_eq!(o.network_aliases, ["web"]);
    }

    #[test]
    fn unmappable_and_bad_values_name_the_option() {
        let (opt, why) = parse(&[("privileged", "true")]).unwrap_err();
        assert_eq!(opt, "privileged");
        assert!(
            why.contains("cannot be given to the Docker Engine API"),
            "{why}"
        );
        let (opt, why) = parse(&[("ulimit", "nofile")]).unwrap_err();
        assert_eq!(opt, "ulimit");
        assert!(why.contains("NAME=SOFT[:HARD]"), "{why}");
        let (opt, _) = parse(&[("network-alias", "web")]).unwrap_err();
        assert_eq!(opt, "network-alias");
        assert!(parse(&[("network", "host")]).is_err());
        assert!(parse(&[("dns", "resolver")]).is_err());
    }
}
