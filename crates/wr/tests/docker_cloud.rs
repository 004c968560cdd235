//! The docker provider on this machine's engine: servers are sshd containers from the image
//! bin/wr-node-image.sh builds, reached over ssh with the deployment's key.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use wr::docker_cloud::{DockerCloud, DockerCloudConfig};
use wr::provider::{pick_image, NetworkPlan, Provider, ProviderError, Resources, SpawnSpec};

const IMAGE: &str = testkit::WR_NODE_IMAGE;

/// Tears the deployment down when dropped, pass or fail.
struct Cleanup<'a>(&'a DockerCloud, &'a str);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.teardown(self.1);
    }
}

fn ssh(key: &Path, user: &str, ip: &str, cmd: &str) -> (bool, String) {
    let out = testkit::ssh(key, user, ip, cmd);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// ssh until sshd answers (it starts after the node's init).
fn ssh_when_up(key: &Path, user: &str, ip: &str, cmd: &str) -> String {
    let start = Instant::now();
    loop {
        let (ok, out) = ssh(key, user, ip, cmd);
        if ok {
            return out;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no ssh to {ip}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn docker_provider_spawns_sshd_servers_within_its_quota() {
    testkit::wr_node_image();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("docker-cloud.yml");
    std::fs::write(
        &file,
        "flavors:\n\
         - {name: dt.small, vcpus: 1, ram: 256, disk: 1}\n\
         - {name: dt.big, vcpus: 1, ram: 512}\n\
         - {name: dt.huge, vcpus: 4096, ram: 512}\n\
         quota: {instances: 2, ram: 4096}\n",
    )
    .unwrap();
    let cloud = DockerCloud::new(DockerCloudConfig::read(&file).unwrap()).unwrap();
    let prefix = "wr-dev-paasta-test-dc";
    let _cleanup = Cleanup(&cloud, prefix);
    let (key, public) = testkit::ssh_keypair(work.path());

    let flavors = cloud.flavors().unwrap();
    let flavor = |n: &str| flavors.iter().find(|f| f.name == n).unwrap().clone();
    let images = cloud.images().unwrap();
    let image = pick_image(&images, "paasta-test/wr-node").unwrap().clone();
    assert_eq!(image.name, IMAGE);
    let q = cloud.quota().unwrap();
    assert_eq!(
        (q.instances.max, q.cores.max, q.ram.max),
        (Some(2), None, Some(4096))
    );

    let net = NetworkPlan {
        cidr: "10.213.7.0/24".into(),
        gateway: "10.213.7.1".into(),
        dns: vec![],
    };
    let mut res = Resources {
        provider: "docker".into(),
        prefix: prefix.into(),
        user: "wr".into(),
        ..Resources::default()
    };
    cloud.prepare(&mut res, &public, &[22], Some(&net)).unwrap();
    let first = res.clone();
    cloud.prepare(&mut res, &public, &[22], Some(&net)).unwrap();
    assert_eq!(
        res.network, first.network,
        "the second deploy finds the network"
    );

    let spec = |name: &str, flavor: wr::cloud::Flavor, external_ip: bool| SpawnSpec {
        name: format!("{prefix}-{name}"),
        flavor,
        image: image.clone(),
        disk: 0,
        external_ip,
        user: "wr".into(),
        user_data: wr::provider::USER_DATA.into(),
        timeout: Duration::from_secs(60),
    };
    let t = Instant::now();
    let head = cloud
        .spawn(&res, &spec("head", flavor("dt.small"), true))
        .unwrap();
    let ip = head.public_ip.clone().unwrap();
    assert!(ip.starts_with("10.213.7."), "{head:?}");
    let who = ssh_when_up(
        &key,
        "wr",
        &ip,
        "id -un; test -e /tmp/.wr_cloud_sentinel && echo booted; test -S /var/run/docker.sock && echo engine; hostname",
    );
    eprintln!(
        "head node answers ssh {:.2} s after the spawn",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(who, format!("wr\nbooted\nengine\n{prefix}-head"));

    let worker = cloud
        .spawn(&res, &spec("w1", flavor("dt.big"), false))
        .unwrap();
    let limits = ssh_when_up(
        &key,
        "wr",
        worker.ip.as_deref().unwrap(),
        "test -S /var/run/docker.sock || echo no-engine; \
         cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    );
    assert_eq!(limits, format!("no-engine\n{}", 512 * 1024 * 1024));
    let q = cloud.quota().unwrap();
    assert_eq!((q.instances.used, q.cores.used, q.ram.used), (2, 2, 768));

    let e = cloud
        .spawn(&res, &spec("w2", flavor("dt.small"), false))
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Refused(m) if m.contains("Quota exceeded for instances")),
        "{e}"
    );
    let e = cloud
        .spawn(&res, &spec("w3", flavor("dt.huge"), false))
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Refused(m) if m.contains("No valid host")),
        "{e}"
    );
    let mut names: Vec<String> = cloud
        .instances(prefix)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    names.sort();
    assert_eq!(names, [format!("{prefix}-head"), format!("{prefix}-w1")]);
    // A deployment whose prefix starts ours ("…-d" of "…-dc") has none of them: its teardown
    // or adoption must not take ours.
    assert!(cloud
        .instances(&prefix[..prefix.len() - 1])
        .unwrap()
        .is_empty());

    assert!(cloud.destroy(&worker.id).unwrap());
    assert_eq!(cloud.instance(&worker.id).unwrap(), None);
    assert!(!cloud.destroy(&worker.id).unwrap());

    let removed = cloud.teardown(prefix);
    assert!(removed.errors.is_empty(), "{:?}", removed.errors);
    assert_eq!(
        removed.removed,
        [
            format!("server {prefix}-head ({})", head.id),
            format!("network {prefix}")
        ]
    );
    let left = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=org.wr-cloud.prefix={prefix}"),
        ])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty());
    let nets = Command::new("docker")
        .args(["network", "ls", "-q", "--filter", &format!("name={prefix}")])
        .output()
        .unwrap();
    assert!(nets.stdout.is_empty());
}
