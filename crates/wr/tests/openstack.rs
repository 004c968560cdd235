//! The OpenStack provider against real OpenStack services (Keystone, Glance, Placement, Nova
//! with its fake driver, Neutron), stood up on loopback by bin/openstack-testbed.sh for this
//! test and stopped after it, pass or fail. With OPENSTACK_TESTBED_DIR set, a testbed already
//! up in that directory is used and left running (for working on the provider).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use wr::openstack::{Credentials, OpenStack};
use wr::provider::{pick_image, NetworkPlan, Provider, ProviderError, Resources, SpawnSpec};

/// The testbed, stopped (and its directory removed) when dropped.
struct Testbed {
    dir: PathBuf,
    ours: bool,
}

impl Testbed {
    fn up() -> Testbed {
        if let Ok(dir) = std::env::var("OPENSTACK_TESTBED_DIR") {
            return Testbed {
                dir: dir.into(),
                ours: false,
            };
        }
        let dir = testkit::top().join("target/openstack-testbed");
        let tb = Testbed { dir, ours: true };
        let t = Instant::now();
        let status = Command::new("sh")
            .arg(testkit::top().join("bin/openstack-testbed.sh"))
            .arg("up")
            .arg(&tb.dir)
            .status()
            .expect("running bin/openstack-testbed.sh");
        assert!(status.success(), "bin/openstack-testbed.sh up failed");
        eprintln!("testbed up in {:.0} s", t.elapsed().as_secs_f64());
        tb
    }

    /// The variables an rc file of the testbed sets.
    fn env(&self, file: &str) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.dir.join(file)).expect("the testbed's rc file");
        text.lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect()
    }

    /// Runs the `openstack` client as the admin.
    fn admin(&self, args: &[&str]) -> String {
        let venv = std::env::var("OPENSTACK_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(std::env::var("HOME").unwrap())
                    .join(".cache/paasta-toolkit/openstack-nova34")
            });
        let out = Command::new(venv.join("bin/openstack"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(self.env("admin-env"))
            .output()
            .expect("running openstack");
        assert!(
            out.status.success(),
            "openstack {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if !self.ours {
            return;
        }
        let _ = Command::new("sh")
            .arg(testkit::top().join("bin/openstack-testbed.sh"))
            .arg("down")
            .arg(&self.dir)
            .status();
    }
}

/// Every resource named by the prefix, as the admin sees them (one line per kind).
fn leftovers(tb: &Testbed, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, args) in [
        (
            "server",
            vec![
                "server",
                "list",
                "--all-projects",
                "-f",
                "value",
                "-c",
                "Name",
            ],
        ),
        (
            "network",
            vec!["network", "list", "-f", "value", "-c", "Name"],
        ),
        (
            "subnet",
            vec!["subnet", "list", "-f", "value", "-c", "Name"],
        ),
        (
            "router",
            vec!["router", "list", "-f", "value", "-c", "Name"],
        ),
        (
            "security group",
            vec!["security", "group", "list", "-f", "value", "-c", "Name"],
        ),
        (
            "floating ip",
            vec!["floating", "ip", "list", "--long", "-f", "value"],
        ),
        (
            "port",
            vec![
                "port",
                "list",
                "-f",
                "value",
                "-c",
                "Name",
                "-c",
                "device_owner",
            ],
        ),
    ] {
        for line in tb.admin(&args).lines() {
            if line.contains(prefix) {
                out.push(format!("{kind}: {line}"));
            }
        }
    }
    out
}

#[test]
fn openstack_provider_against_real_services() {
    let tb = Testbed::up();
    let env = tb.env("env");
    let creds = Credentials::from_env(|k| env.get(k).cloned()).expect("the rc file's variables");
    let cloud = OpenStack::new(creds);
    let prefix = "wr-dev-ptk-test";
    let work = tempfile::tempdir().unwrap();
    let (_, key) = testkit::ssh_keypair(work.path());
    assert!(leftovers(&tb, prefix).is_empty());

    // Auth and the catalog: flavors from Nova, images from Glance.
    let flavors = cloud.flavors().unwrap();
    let flavor = |n: &str| flavors.iter().find(|f| f.name == n).unwrap().clone();
    assert_eq!(
        (
            flavor("m1.tiny").vcpus,
            flavor("m1.tiny").ram,
            flavor("m1.tiny").disk
        ),
        (1, 512, 1)
    );
    let images = cloud.images().unwrap();
    let image = pick_image(&images, "debian-12").unwrap().clone();
    assert_eq!(image.name, "debian-12-test");
    let e = pick_image(&images, "centos").unwrap_err();
    assert!(e.contains("debian-12-test"), "{e}");
    let cheapest =
        wr::cloud::flavor_for(&flavors, 1.0, 600, &wr::cloud::Limits::default()).unwrap();
    assert_eq!(cheapest.name, "m1.small", "the cheapest flavor with 600 MB");
    let limits = wr::cloud::Limits {
        flavor: "^x".into(),
        ..Default::default()
    };
    let e = wr::cloud::flavor_for(&flavors, 1.0, 600, &limits).unwrap_err();
    assert!(
        e.contains("matching ^x") && e.contains("m1.tiny (1 vCPUs, 512 MB, 1 GB)"),
        "{e}"
    );

    // Token renewal: a revoked token is replaced by a new one on the next call.
    cloud.revoke_token().unwrap();
    assert_eq!(cloud.flavors().unwrap().len(), flavors.len());

    // Bad credentials are named.
    let mut bad = env.clone();
    bad.insert("OS_PASSWORD".into(), "wrong".into());
    let e = OpenStack::new(Credentials::from_env(|k| bad.get(k).cloned()).unwrap())
        .flavors()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Keystone answered 401") && e.contains("OS_PASSWORD"),
        "{e}"
    );

    // Quota: the project's, and -1 read as unlimited.
    let project = cloud.project_id().unwrap();
    tb.admin(&[
        "quota",
        "set",
        "--ram",
        "-1",
        "--instances",
        "2",
        "--cores",
        "20",
        &project,
    ]);
    let q = cloud.quota().unwrap();
    assert_eq!((q.instances.max, q.instances.used), (Some(2), 0));
    assert_eq!(q.cores.max, Some(20));
    assert_eq!(q.ram.max, None, "Nova's -1 is unlimited");

    // Deploy's resources, twice: the second finds what the first made.
    let net = NetworkPlan {
        cidr: "192.168.64.0/18".into(),
        gateway: "192.168.64.1".into(),
        dns: vec!["8.8.4.4".into(), "8.8.8.8".into()],
    };
    let mut res = Resources {
        provider: "openstack".into(),
        prefix: prefix.into(),
        ..Resources::default()
    };
    let ports = [22, 11301, 11302];
    cloud.prepare(&mut res, &key, &ports, Some(&net)).unwrap();
    assert!(res.made_network);
    let first = res.clone();
    cloud.prepare(&mut res, &key, &ports, Some(&net)).unwrap();
    assert_eq!(
        (
            &res.keypair,
            &res.security_group,
            &res.network,
            &res.subnet,
            &res.router
        ),
        (
            &first.keypair,
            &first.security_group,
            &first.network,
            &first.subnet,
            &first.router
        )
    );
    let rules = tb.admin(&[
        "security",
        "group",
        "rule",
        "list",
        prefix,
        "-f",
        "value",
        "-c",
        "Port Range",
        "-c",
        "IP Protocol",
    ]);
    for p in ports {
        assert!(rules.contains(&format!("{p}:{p}")), "{rules}");
    }
    assert!(rules.contains("icmp"), "{rules}");
    let subnet = tb.admin(&[
        "subnet",
        "show",
        prefix,
        "-f",
        "value",
        "-c",
        "cidr",
        "-c",
        "dns_nameservers",
        "-c",
        "gateway_ip",
    ]);
    assert!(
        subnet.contains("192.168.64.0/18")
            && subnet.contains("8.8.4.4")
            && subnet.contains("192.168.64.1"),
        "{subnet}"
    );

    // A head node: ACTIVE, with a floating IP.
    let spec = |name: &str, flavor: wr::cloud::Flavor, external_ip: bool| SpawnSpec {
        name: format!("{prefix}-{name}"),
        flavor,
        image: image.clone(),
        disk: 0,
        external_ip,
        user: "wr".into(),
        user_data: wr::provider::USER_DATA.into(),
        timeout: Duration::from_secs(120),
    };
    let t = Instant::now();
    let head = cloud
        .spawn(&res, &spec("head", flavor("m1.tiny"), true))
        .unwrap();
    eprintln!("head node ACTIVE in {:.1} s", t.elapsed().as_secs_f64());
    assert_eq!(head.status, "ACTIVE");
    assert!(
        head.ip.as_deref().unwrap().starts_with("192.168."),
        "{head:?}"
    );
    let fip = head.public_ip.clone().expect("a floating IP");
    let listed = tb.admin(&["floating", "ip", "list", "--long", "-f", "value"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&fip) && l.contains(prefix)),
        "{listed}"
    );
    let worker = cloud
        .spawn(&res, &spec("w1", flavor("m1.tiny"), false))
        .unwrap();
    assert_eq!(worker.public_ip, None);
    let mut names: Vec<String> = cloud
        .instances(prefix)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    names.sort();
    assert_eq!(names, [format!("{prefix}-head"), format!("{prefix}-w1")]);
    assert_eq!(cloud.quota().unwrap().instances.used, 2);

    // Over quota: refused, and nothing left behind.
    let e = cloud
        .spawn(&res, &spec("w2", flavor("m1.tiny"), false))
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Refused(m) if m.contains("Quota exceeded")),
        "{e}"
    );
    assert_eq!(cloud.instances(prefix).unwrap().len(), 2);

    // No valid host for a flavor no host can take (with the quota out of its way).
    tb.admin(&[
        "quota",
        "set",
        "--instances",
        "10",
        "--cores",
        "-1",
        &project,
    ]);
    let e = cloud
        .spawn(&res, &spec("giant", flavor("m1.giant"), false))
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Refused(m) if m.contains("No valid host")),
        "{e}"
    );
    assert_eq!(
        cloud.instances(prefix).unwrap().len(),
        2,
        "the failed server is deleted"
    );

    // A destroyed worker is gone; destroying it again says so.
    assert!(cloud.destroy(&worker.id).unwrap());
    assert_eq!(cloud.instance(&worker.id).unwrap(), None);
    assert!(!cloud.destroy(&worker.id).unwrap());

    // Teardown removes everything of the prefix, and only once.
    let removed = cloud.teardown(prefix);
    assert!(removed.errors.is_empty(), "{:?}", removed.errors);
    for kind in [
        "server",
        "router",
        "floating IP",
        "network",
        "security group",
        "keypair",
    ] {
        assert!(
            removed.removed.iter().any(|r| r.starts_with(kind)),
            "{kind} not in {:?}",
            removed.removed
        );
    }
    assert_eq!(leftovers(&tb, prefix), Vec::<String>::new());
    let again = cloud.teardown(prefix);
    assert!(
        again.removed.is_empty() && again.errors.is_empty(),
        "{again:?}"
    );
    drop(tb);
}
