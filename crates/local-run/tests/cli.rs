//! local-run as a user runs it, against the real Docker engine (`make test` starts one with
//! bin/ensure-docker.sh). Images are `paasta-test/…`, built from busybox-static by
//! fixtures/images/make-busybox-image.sh; each test runs as its own `USER`, so its containers are
//! named `paasta_local_run_paasta-test-<test>_N` and a test can tell that none is left behind.

use assert_cmd::Command;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use testkit::{bin, busybox_image, docker, fixture_tree, ok, outcome};

/// The fixture tree in a scratch directory, deployments generated, registry `paasta-test`.
struct Fixture {
    dir: tempfile::TempDir,
    prod_sha: String,
}

const IMAGE: &str = "paasta-test/busybox:latest";

impl Fixture {
    fn new() -> Fixture {
        busybox_image(&[IMAGE]);
        let dir = fixture_tree();
        std::fs::write(
            dir.path().join("etc_paasta/docker_registry.json"),
            r#"{"docker_registry": "paasta-test"}"#,
        )
        .unwrap();
        // No /etc/timezone on every machine: point the system volume at something that exists.
        std::fs::write(dir.path().join("etc_paasta/volumes.json"), r#"{"volumes": [{"containerPath": "/etc/hostname.host", "hostPath": "/etc/hostname", "mode": "RO"}]}"#).unwrap();
        ok(bin("generate-deployments")
            .args(["--all", "-d"])
            .arg(dir.path().join("soa"))
            .env("PAASTA_SYSTEM_CONFIG_DIR", dir.path().join("etc_paasta"))
            .output()
            .unwrap());
        let deployments =
            std::fs::read_to_string(dir.path().join("soa/example_service/deployments.json"))
                .unwrap();
        let v: Value = serde_json::from_str(&deployments).unwrap();
        let prod_sha = v["v2"]["deployments"]["prod"]["git_sha"]
            .as_str()
            .unwrap()
            .to_string();
        for group in ["prod", "canary"] {
            let sha = v["v2"]["deployments"][group]["git_sha"].as_str().unwrap();
            docker(&[
                "tag",
                IMAGE,
                &format!("paasta-test/services-example_service:paasta-{sha}"),
            ]);
        }
        Fixture { dir, prod_sha }
    }

    fn soa(&self) -> PathBuf {
        self.dir.path().join("soa")
    }

    /// local-run as user `paasta-test-<who>`.
    fn cmd(&self, who: &str) -> Command {
        let mut c = Command::cargo_bin("local-run").unwrap();
        c.env("SOA_DIR", self.soa())
            .env(
                "PAASTA_SYSTEM_CONFIG_DIR",
                self.dir.path().join("etc_paasta"),
            )
            .env("USER", format!("paasta-test-{who}"));
        c
    }

    /// local-run started in the background with piped stdin, stdout and stderr.
    fn spawn(&self, who: &str, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("local-run"))
            .env("SOA_DIR", self.soa())
            .env(
                "PAASTA_SYSTEM_CONFIG_DIR",
                self.dir.path().join("etc_paasta"),
            )
            .env("USER", format!("paasta-test-{who}"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn append(&self, file: &str, text: &str) {
        let path = self.soa().join("example_service").join(file);
        let mut content = std::fs::read_to_string(&path).unwrap();
        content.push_str(text);
        std::fs::write(path, content).unwrap();
    }
}

/// The containers a test's local-run made, still there.
fn containers_of(who: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("name=paasta_local_run_paasta-test-{who}_"),
        "--format",
        "{{.Names}}",
    ]);
    out.lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

fn output(c: &mut Command) -> (i32, String, String) {
    outcome(&c.output().unwrap())
}

#[test]
fn dry_run_matches_the_reference_vector_without_an_engine() {
    let dir = tempfile::tempdir().unwrap();
    let soa = dir.path().join("soa/example_service");
    std::fs::create_dir_all(&soa).unwrap();
    std::fs::write(soa.join("service.yaml"), "git_url: /nowhere\n").unwrap();
    std::fs::write(soa.join("smartstack.yaml"), "main:\n  proxy_port: 20000\n").unwrap();
    std::fs::write(
        soa.join("marathon-testcluster.yaml"),
        "main:\n  cpus: 0.5\n  mem: 300.5\n  cmd: \"./serve --port 8888\"\n  deploy_group: prod\n  extra_volumes:\n    - {containerPath: /scratch, hostPath: /tmp, mode: RW}\n",
    )
    .unwrap();
    let sha = "a".repeat(40);
    std::fs::write(
        soa.join("deployments.json"),
        format!(r#"{{"v2": {{"deployments": {{"prod": {{"docker_image": "services-example_service:paasta-{sha}", "git_sha": "{sha}"}}}}, "controls": {{}}}}}}"#),
    )
    .unwrap();
    let etc = dir.path().join("etc_paasta");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("c.json"), r#"{"cluster": "testcluster", "docker_registry": "registry.example.com", "volumes": [{"containerPath": "/etc/ssl", "hostPath": "/etc/ssl", "mode": "RO"}]}"#).unwrap();
    let run = |flag: &str| {
        let started = Instant::now();
        let out = Command::cargo_bin("local-run")
            .unwrap()
            .args(["-s", "example_service", "-i", "main", flag, "-y"])
            .arg(dir.path().join("soa"))
            .env("PAASTA_SYSTEM_CONFIG_DIR", &etc)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("USER", "paasta-test-dry")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let argv: Vec<String> = run("--dry-run")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let flags: std::collections::BTreeSet<&str> = argv.iter().map(String::as_str).collect();
    let mut want = vec![
        "--memory=300m",
        "--memory-swap=365m",
        "--cpu-period=100000",
        "--cpu-quota=150000",
        "--label=paasta_service=example_service",
        "--label=paasta_instance=main",
        "--init=true",
        "--volume=/etc/ssl:/etc/ssl:ro",
        "--volume=/tmp:/scratch:rw",
        "--detach=true",
    ];
    let caps: Vec<String> = container::spec::CAP_DROP
        .iter()
        .map(|c| format!("--cap-drop={c}"))
        .collect();
    want.extend(caps.iter().map(String::as_str));
    for w in &want {
        assert!(flags.contains(w), "{w} missing from {argv:?}");
    }
    assert_eq!(&argv[..2], ["docker", "run"]);
    let image = format!("registry.example.com/services-example_service:paasta-{sha}");
    let at = argv.iter().position(|a| *a == image).expect("the image");
    assert_eq!(&argv[at + 1..], ["sh", "-c", "./serve --port 8888"]);
    assert!(
        argv.iter()
            .any(|a| a.starts_with("--publish=") && a.ends_with(":8888")),
        "{argv:?}"
    );
    assert!(argv
        .iter()
        .any(|a| a.starts_with("--name=paasta_local_run_paasta-test-dry_")));
    // Env names in argv, never values.
    for name in [
        "PAASTA_SERVICE",
        "PAASTA_DOCKER_IMAGE",
        "MARATHON_PORT",
        "MESOS_TASK_ID",
        "HOST",
    ] {
        assert!(
            argv.windows(2).any(|w| w[0] == "--env" && w[1] == name),
            "{name}"
        );
    }
    assert!(!argv
        .iter()
        .any(|a| a.contains("example_service:paasta") && a.starts_with("--env")));
    let spec = run("--json-dict");
    assert_eq!(
        spec["env"]["PAASTA_DOCKER_IMAGE"],
        format!("services-example_service:paasta-{sha}")
    );
    assert_eq!(spec["env"]["MARATHON_APP_RESOURCE_MEM"], "300.5");
    let app_id = spec["env"]["MARATHON_APP_ID"].as_str().unwrap();
    assert!(
        app_id.starts_with("/example--service.main.gitaaaaaaaa.config"),
        "{app_id}"
    );
    assert_eq!(spec["memory_mb"], 300);
    assert_eq!(spec["cap_drop"].as_array().unwrap().len(), 14);
}

#[test]
fn exit_codes_and_the_two_streams() {
    let f = Fixture::new();
    let (code, out, err) = output(
        f.cmd("codes")
            .args(["-s", "example_service", "-i", "batch"]),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "batch run in local with prod\n");
    let (code, out, err) = output(f.cmd("codes").args([
        "-s",
        "example_service",
        "-i",
        "batch",
        "-C",
        "echo to-out; echo to-err >&2; exit 7",
    ]));
    assert_eq!(code, 7);
    assert_eq!(out, "to-out\n");
    assert!(err.contains("to-err"), "{err}");
    assert!(containers_of("codes").is_empty());
}

#[test]
fn output_streams_before_the_container_exits() {
    let f = Fixture::new();
    let started = Instant::now();
    let mut child = f.spawn(
        "stream",
        &[
            "-s",
            "example_service",
            "-i",
            "batch",
            "-C",
            "echo first; sleep 4; echo second",
        ],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "first");
    let first_at = started.elapsed();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first line must arrive while the container still runs"
    );
    assert_eq!(lines.next().unwrap().unwrap(), "second");
    assert!(child.wait().unwrap().success());
    assert!(started.elapsed() - first_at >= Duration::from_secs(3));
}

#[test]
fn env_volumes_and_time_variables_inside_the_container() {
    let f = Fixture::new();
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("hello.txt"), "from the host\n").unwrap();
    f.append(
        "adhoc-local.yaml",
        &format!(
            "\nprobe:\n  deploy_group: prod\n  env:\n    GREETING: hi there\n  extra_volumes:\n    - {{containerPath: /data, hostPath: {}, mode: RO}}\n    - {{containerPath: /missing, hostPath: /nonexistent/dir, mode: RW}}\n",
            scratch.path().display()
        ),
    );
    let script = "echo $PAASTA_SERVICE $PAASTA_INSTANCE $PAASTA_CLUSTER $PAASTA_INSTANCE_TYPE $PAASTA_MONITORING_TEAM; echo $GREETING; cat /data/hello.txt; cat /etc/hostname.host >/dev/null && echo system-volume; touch /data/x 2>/dev/null || echo read-only; echo $MESOS_SANDBOX";
    let (code, out, err) =
        output(
            f.cmd("env")
                .args(["-s", "example_service", "-i", "probe", "-C", script]),
        );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "example_service probe local adhoc platform\nhi there\nfrom the host\nsystem-volume\nread-only\n/mnt/mesos/sandbox\n");
    assert!(
        err.contains("skipping volume /nonexistent/dir:/missing"),
        "{err}"
    );
    // A scheduled job's command is interpolated at --date, in the syntax its command uses.
    let (_, out, _) = output(f.cmd("env").args([
        "-s",
        "example_service",
        "-i",
        "nightly",
        "--date",
        "2026-01-15",
    ]));
    assert_eq!(out, "reindexing for 2026-01-14\n");
    let (_, out, _) = output(f.cmd("env").args([
        "-s",
        "example_service",
        "-i",
        "nightly_report",
        "--date",
        "2026-03-01",
    ]));
    assert_eq!(out, "report for 2026-02-28\n");
    let (_, out, _) = output(f.cmd("env").args([
        "-s",
        "example_service",
        "-i",
        "nightly",
        "--date",
        "2026-01-15",
        "-C",
        "echo $CHRONOS_JOB_NAME/$CHRONOS_JOB_RUN_TIME",
    ]));
    assert_eq!(out, "example_service nightly/1768435200\n");
    assert!(containers_of("env").is_empty());
}

#[test]
fn limits_on_the_container_and_ctrl_c_leaves_nothing() {
    let f = Fixture::new();
    let mut child = f.spawn(
        "limits",
        &[
            "-s",
            "example_service",
            "-i",
            "canary",
            "-k",
            "-C",
            "echo started; sleep 60",
        ],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "started");
    let names = containers_of("limits");
    assert_eq!(names.len(), 1);
    let inspect: Value = serde_json::from_str(&docker(&["inspect", &names[0]])).unwrap();
    let hc = &inspect[0]["HostConfig"];
    assert_eq!(hc["Memory"], 128 * 1024 * 1024);
    assert_eq!(hc["MemorySwap"], 192 * 1024 * 1024);
    assert_eq!(hc["CpuPeriod"], 100000);
    assert_eq!(hc["CpuQuota"], 110000);
    assert_eq!(hc["Init"], true);
    assert_eq!(hc["Privileged"], false);
    assert_eq!(hc["CapDrop"].as_array().unwrap().len(), 14);
    assert_eq!(hc["RestartPolicy"]["Name"].as_str().unwrap_or(""), "");
    assert_eq!(inspect[0]["Config"]["Labels"]["paasta_instance"], "canary");
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        containers_of("limits").is_empty(),
        "Ctrl-C must leave no container"
    );
}

#[test]
fn health_check_passes_on_a_healthy_image_and_fails_on_a_broken_one() {
    let f = Fixture::new();
    let (code, _, err) =
        output(
            f.cmd("health")
                .args(["-s", "example_service", "-i", "main", "-t"]),
        );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("healthy after"), "{err}");
    // Serves a directory without /status: every check answers 404.
    f.append(
        "marathon-local.yaml",
        "\nbroken:\n  deploy_group: prod\n  cmd: \"httpd -f -p 8888 -h /tmp\"\n  healthcheck_mode: http\n  healthcheck_grace_period_seconds: 0\n  healthcheck_interval_seconds: 0.2\n  healthcheck_max_consecutive_failures: 3\n",
    );
    let (code, _, err) =
        output(
            f.cmd("health")
                .args(["-s", "example_service", "-i", "broken", "-t"]),
        );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("unhealthy after 3 check(s): GET /status answered 404"),
        "{err}"
    );
    // tcp and cmd probes.
    f.append(
        "marathon-local.yaml",
        "\ntcpcheck:\n  deploy_group: prod\n  cmd: \"httpd -f -p 8888 -h /srv/www\"\n  healthcheck_mode: tcp\n\
         \ncmdcheck:\n  deploy_group: prod\n  cmd: \"sleep 30\"\n  healthcheck_mode: cmd\n  healthcheck_cmd: \"test -e /srv/www/nope\"\n  healthcheck_grace_period_seconds: 0\n  healthcheck_interval_seconds: 0.2\n  healthcheck_max_consecutive_failures: 2\n",
    );
    let (code, _, err) =
        output(
            f.cmd("health")
                .args(["-s", "example_service", "-i", "tcpcheck", "-t"]),
        );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        output(
            f.cmd("health")
                .args(["-s", "example_service", "-i", "cmdcheck", "-t"]),
        );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("\"test -e /srv/www/nope\" exited 1"), "{err}");
    assert!(containers_of("health").is_empty());
}

#[test]
fn stdin_reaches_an_interactive_container() {
    let f = Fixture::new();
    let mut child = f.spawn(
        "stdin",
        &[
            "-s",
            "example_service",
            "-I",
            "-C",
            "read line; echo got $line",
        ],
    );
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got hello\n");
    // Without an instance: the interactive instance's resources.
    let spec: Value = serde_json::from_slice(
        &f.cmd("stdin")
            .args(["-s", "example_service", "--json-dict"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(spec["memory_mb"], 10240);
    assert_eq!(spec["cpu_quota"], 500000);
    assert_eq!(spec["command"], serde_json::json!(["bash"]));
    assert!(containers_of("stdin").is_empty());
}

#[test]
fn build_builds_the_current_directory_and_runs_it() {
    let f = Fixture::new();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {IMAGE}\nCOPY message.txt /message.txt\nRUN echo built >> /message.txt\n"),
    )
    .unwrap();
    std::fs::write(ctx.path().join("message.txt"), "copied\n").unwrap();
    let (code, out, err) = output(f.cmd("build").current_dir(ctx.path()).args([
        "-s",
        "example_service",
        "-i",
        "batch",
        "--build",
        "-C",
        "cat /message.txt",
    ]));
    docker(&[
        "rmi",
        "-f",
        "paasta-local-run-example_service-paasta-test-build",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "copied\nbuilt\n");
    assert!(containers_of("build").is_empty());
}

#[test]
fn bad_input_is_refused_clearly() {
    let f = Fixture::new();
    let expect = |args: &[&str], code: i32, text: &str| {
        let (c, _, err) = output(f.cmd("bad").args(args));
        assert_eq!(c, code, "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: expected {text:?} in {err}");
    };
    expect(&["-s", "nope", "-i", "batch"], 2, "no such service: nope");
    expect(
        &["-s", "example_service", "-i", "nope"],
        2,
        "has no instance nope in cluster local; its instances there: main, canary",
    );
    expect(
        &["-s", "example_service", "-i", "batch", "-c", "mars"],
        2,
        "has no instances in cluster mars",
    );
    expect(
        &[
            "-s",
            "example_service",
            "-i",
            "batch",
            "--date",
            "2026-13-01",
        ],
        2,
        "is not a date of the form YYYY-MM-DD",
    );
    expect(
        &["-s", "example_service", "-i", "batch", "--sha", "not-a-sha"],
        2,
        "\"not-a-sha\" is not a git sha (4 to 40 hex digits)",
    );
    // Flags PaaSTA users type from habit: the same root by its PaaSTA name, the secrets
    // flags accepted and said to be unused, -v saying what will run.
    let (c, out, err) = output(
        f.cmd("bad")
            .args([
                "-s",
                "example_service",
                "-i",
                "batch",
                "--dry-run",
                "-v",
                "--skip-secrets",
                "--vault-token-file",
                "/nowhere",
                "--yelpsoa-config-root",
            ])
            .arg(f.soa()),
    );
    assert_eq!(c, 0, "{err}");
    assert!(out.starts_with("[\"docker\",\"run\""), "{out}");
    assert!(
        err.contains("--skip-secrets is accepted")
            && err.contains("--vault-token-file is accepted"),
        "{err}"
    );
    assert!(
        err.contains("local-run: running [\"docker\",\"run\""),
        "{err}"
    );
    std::fs::remove_file(f.soa().join("example_service/deployments.json")).unwrap();
    let soa = f.soa().display().to_string();
    expect(
        &["-s", "example_service", "-i", "batch"],
        2,
        &format!("No deployments.json found in {soa}/example_service. You can generate this by running: generate-deployments -d {soa} -s example_service"),
    );
    // An image not on this machine, without --pull: an error, and no pull attempted.
    let started = Instant::now();
    expect(
        &["-s", "example_service", "-i", "batch", "--sha", "0000000"],
        2,
        "the image paasta-test/services-example_service:paasta-0000000 is not on this machine",
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // --pull from a registry that is not there: a clear error, not a hang.
    std::fs::write(
        f.dir.path().join("etc_paasta/docker_registry.json"),
        r#"{"docker_registry": "127.0.0.1:9"}"#,
    )
    .unwrap();
    expect(
        &[
            "-s",
            "example_service",
            "-i",
            "batch",
            "--sha",
            &f.prod_sha,
            "--pull",
        ],
        2,
        "pulling 127.0.0.1:9/services-example_service",
    );
    assert!(containers_of("bad").is_empty());
}

#[test]
fn no_engine_is_a_clear_error_within_two_seconds() {
    let f = Fixture::new();
    let started = Instant::now();
    let (code, _, err) = output(
        f.cmd("noengine")
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .args(["-s", "example_service", "-i", "batch"]),
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no Docker engine answers at unix:///nonexistent/docker.sock"),
        "{err}"
    );
}

/// An instance listening on its own container_port is published, probed and told its port there.
#[test]
fn container_port_is_published_probed_and_named() {
    let f = Fixture::new();
    f.append(
        "marathon-local.yaml",
        "\nport9000:\n  deploy_group: prod\n  container_port: 9000\n  cmd: \"httpd -f -p 9000 -h /srv/www\"\n  healthcheck_mode: http\n  healthcheck_grace_period_seconds: 5\n  healthcheck_interval_seconds: 0.2\n  healthcheck_max_consecutive_failures: 3\n",
    );
    let (code, _, err) =
        output(
            f.cmd("port")
                .args(["-s", "example_service", "-i", "port9000", "-t"]),
        );
    assert_eq!(code, 0, "healthy on 9000: {err}");
    let (code, out, err) = output(f.cmd("port").args([
        "-s",
        "example_service",
        "-i",
        "port9000",
        "-o",
        "31999",
        "--dry-run",
        "--json-dict",
    ]));
    assert_eq!(code, 0, "--dry-run --json-dict together: {err}");
    let spec: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(spec["container_port"], 9000);
    assert_eq!(spec["env"]["MARATHON_PORT_9000"], "31999");
    assert!(spec["argv"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("--publish=31999:9000")));
    assert!(containers_of("port").is_empty());
}
