//! The Engine API client against the real Docker engine (`make test` starts one): a root file
//! system imported through the API, a container created, attached, started, listed by label,
//! exec'd into, waited for and removed. Names carry the `paasta-test` prefix.

use container::engine::{Engine, LogOutput};
use container::spec::{build, SpecOptions};
use futures_util::StreamExt;
use std::time::Duration;

fn rootfs() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_path_with_name("/bin/busybox", "bin/busybox")
        .expect("busybox-static is installed (bin/ensure-docker.sh)");
    for applet in ["sh", "echo", "sleep", "test"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    b.into_inner().unwrap()
}

/// Runs `test` on a current-thread runtime with the engine, `image` imported from busybox first
/// and removed once the test hands the engine back (bin/test-cleanup.sh removes it after a
/// failure).
fn on_engine_with<F, Fut>(image: &str, test: F)
where
    F: FnOnce(Engine) -> Fut,
    Fut: std::future::Future<Output = Engine>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let engine = Engine::connect(Duration::from_secs(2))
            .await
            .expect("a Docker engine answers (make test starts one)");
        engine.import_rootfs(rootfs(), image).await.unwrap();
        let engine = test(engine).await;
        engine
            .docker()
            .remove_image(
                image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
            .unwrap();
    });
}

#[test]
fn import_create_attach_start_wait_list_exec_remove() {
    let image = "paasta-test/engine-check:latest";
    on_engine_with(image, |engine| async move {
        assert!(engine.image_exists(image).await.unwrap());
        assert!(!engine
            .image_exists("paasta-test/never-built:latest")
            .await
            .unwrap());

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("svc")).unwrap();
        std::fs::write(dir.path().join("svc/service.yaml"), "git_url: /x\n").unwrap();
        std::fs::write(
            dir.path().join("svc/adhoc-c.yaml"),
            "main:\n  mem: 64\n  env: {WHO: engine-test}\n",
        )
        .unwrap();
        let service = soa::Service::load(dir.path(), "svc").unwrap();
        let config = service.instance_config(&service.files[0], "main").unwrap();
        let name = format!("paasta-test-engine-{}", std::process::id());
        let command = vec![
            "sh".into(),
            "-c".into(),
            "echo out $WHO; echo err >&2; sleep 1; exit 3".into(),
        ];
        let (spec, _) = build(
            &config,
            SpecOptions {
                name: name.clone(),
                image: image.into(),
                command,
                ..Default::default()
            },
        )
        .unwrap();

        let id = engine.create(&spec).await.unwrap();
        let attached = engine.attach(&id, false).await.unwrap();
        engine.start(&id).await.unwrap();
        let listed = engine
            .list(&[("paasta_service", "svc"), ("paasta_instance", "main")])
            .await
            .unwrap();
        assert!(listed.iter().any(|c| c.id.as_deref() == Some(id.as_str())));
        assert_eq!(
            engine
                .exec(&id, vec!["test".into(), "-e".into(), "/bin/sh".into()])
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            engine
                .exec(&id, vec!["test".into(), "-e".into(), "/nope".into()])
                .await
                .unwrap(),
            1
        );
        let (mut out, mut err) = (String::new(), String::new());
        let mut output = attached.output;
        while let Some(item) = output.next().await {
            match item.unwrap() {
                LogOutput::StdOut { message } => out.push_str(&String::from_utf8_lossy(&message)),
                LogOutput::StdErr { message } => err.push_str(&String::from_utf8_lossy(&message)),
                _ => {}
            }
        }
        assert_eq!(engine.wait(&id).await.unwrap(), 3);
        assert_eq!((out.as_str(), err.as_str()), ("out engine-test\n", "err\n"));
        let inspected = engine.inspect(&id).await.unwrap();
        assert_eq!(
            inspected.host_config.unwrap().memory,
            Some(64 * 1024 * 1024)
        );
        engine.remove(&id).await.unwrap();
        assert!(engine
            .list(&[("paasta_service", "svc")])
            .await
            .unwrap()
            .iter()
            .all(|c| c.id.as_deref() != Some(id.as_str())));
        // A missing image is named as such by create.
        let missing = container::ContainerSpec {
            image: "paasta-test/never-built:latest".into(),
            name: format!("{name}-x"),
            ..spec.clone()
        };
        let e = engine.create(&missing).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("paasta-test/never-built:latest is not on this machine"),
            "{e}"
        );
        engine
    });
}

/// Every extra_docker_args option the toolkit maps, and container_port, as the engine records
/// them on the created container.
#[test]
fn extra_docker_args_and_container_port_reach_the_container() {
    let image = "paasta-test/engine-options:latest";
    on_engine_with(image, |engine| async move {
        let net = format!("paasta-test-net-{}", std::process::id());
        engine
            .docker()
            .create_network(bollard::models::NetworkCreateRequest {
                name: net.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("svc")).unwrap();
        std::fs::write(dir.path().join("svc/service.yaml"), "git_url: /x\n").unwrap();
        std::fs::write(
            dir.path().join("svc/marathon-c.yaml"),
            format!(
                "main:\n  container_port: 9000\n  extra_docker_args:\n    shm-size: 128m\n    ulimit: nofile=1024:2048\n    sysctl: net.core.somaxconn=1024\n    device: /dev/null:/dev/xnull:rw\n    cap-add: SYS_PTRACE\n    cap-drop: NET_ADMIN\n    dns: 10.0.0.2\n    dns-search: example.com\n    add-host: db.local:10.0.0.5\n    hostname: web1\n    label: team=core\n    env: EXTRA=yes\n    user: '65534'\n    workdir: /tmp\n    tmpfs: /run:rw,size=64m\n    mount: type=bind,source=/etc,target=/host-etc,readonly\n    memory-reservation: 32m\n    cpuset-cpus: '0'\n    pids-limit: '100'\n    init: 'false'\n    read-only: 'true'\n    security-opt: no-new-privileges\n    oom-kill-disable: 'true'\n    log-driver: json-file\n    log-opt: max-size=10m\n    network: {net}\n    network-alias: web\n"
            ),
        )
        .unwrap();
        let service = soa::Service::load(dir.path(), "svc").unwrap();
        let config = service.instance_config(&service.files[0], "main").unwrap();
        let name = format!("paasta-test-options-{}", std::process::id());
        let (spec, _) = build(
            &config,
            SpecOptions {
                name: name.clone(),
                image: image.into(),
                command: vec!["sleep".into(), "1".into()],
                publish: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
        let id = engine.create(&spec).await.unwrap();
        let c = engine.inspect(&id).await.unwrap();
        engine.remove(&id).await.unwrap();
        engine.docker().remove_network(&net).await.unwrap();

        let h = c.host_config.unwrap();
        let cfg = c.config.unwrap();
        assert!(h.port_bindings.unwrap().contains_key("9000/tcp"));
        assert!(cfg.exposed_ports.unwrap().iter().any(|p| p == "9000/tcp"));
        assert_eq!(h.shm_size, Some(128 << 20));
        let u = &h.ulimits.unwrap()[0];
        assert_eq!(
            (u.name.as_deref(), u.soft, u.hard),
            (Some("nofile"), Some(1024), Some(2048))
        );
        assert_eq!(h.sysctls.unwrap()["net.core.somaxconn"], "1024");
        let d = &h.devices.unwrap()[0];
        assert_eq!(
            (
                d.path_on_host.as_deref(),
                d.path_in_container.as_deref(),
                d.cgroup_permissions.as_deref()
            ),
            (Some("/dev/null"), Some("/dev/xnull"), Some("rw"))
        );
        assert!(h.cap_add.unwrap().contains(&"SYS_PTRACE".to_string()));
        let drop = h.cap_drop.unwrap();
        assert!(drop.contains(&"NET_ADMIN".to_string()) && drop.contains(&"MKNOD".to_string()));
        assert_eq!(h.dns.unwrap(), ["10.0.0.2"]);
        assert_eq!(h.dns_search.unwrap(), ["example.com"]);
        assert_eq!(h.extra_hosts.unwrap(), ["db.local:10.0.0.5"]);
        assert_eq!(cfg.hostname.as_deref(), Some("web1"));
        assert_eq!(cfg.labels.as_ref().unwrap()["team"], "core");
        assert_eq!(cfg.labels.unwrap()["paasta_instance"], "main");
        assert!(cfg.env.unwrap().iter().any(|e| e == "EXTRA=yes"));
        assert_eq!(cfg.user.as_deref(), Some("65534"));
        assert_eq!(cfg.working_dir.as_deref(), Some("/tmp"));
        assert_eq!(h.tmpfs.unwrap()["/run"], "rw,size=64m");
        let m = &h.mounts.unwrap()[0];
        assert_eq!(
            (m.source.as_deref(), m.target.as_deref(), m.read_only),
            (Some("/etc"), Some("/host-etc"), Some(true))
        );
        assert_eq!(h.memory_reservation, Some(32 << 20));
        assert_eq!(h.cpuset_cpus.as_deref(), Some("0"));
        assert_eq!(h.pids_limit, Some(100));
        assert_eq!(h.init, Some(false), "init=false overrides the default");
        assert_eq!(h.readonly_rootfs, Some(true));
        assert_eq!(h.security_opt.unwrap(), ["no-new-privileges"]);
        assert_eq!(h.oom_kill_disable, Some(true));
        let log = h.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        assert_eq!(log.config.unwrap()["max-size"], "10m");
        assert_eq!(h.network_mode.as_deref(), Some(net.as_str()));
        let endpoint = &c.network_settings.unwrap().networks.unwrap()[&net];
        assert!(endpoint
            .aliases
            .as_ref()
            .unwrap()
            .contains(&"web".to_string()));
        assert_eq!(h.privileged, Some(false));
        engine
    });
}
