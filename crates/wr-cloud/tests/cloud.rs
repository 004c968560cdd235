//! wr-cloud's cloud end to end on the docker provider: `cloud deploy` puts a manager on a head
//! node (an sshd container), its cloud scheduler spawns servers (more containers) for the
//! queue, runs the commands there over ssh and destroys idle servers; a killed worker costs
//! nothing but a retry; a manager that dies leaves its servers and their jobs to the next one;
//! a head node lost is recovered from the queue's backup on moto's S3;
//! `cloud teardown` leaves nothing. Each test has its own network, names and ports; they run
//! one at a time (two cores).

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use testkit::{bin, free_port, json_lines, ok};

const IMAGE: &str = testkit::WR_NODE_IMAGE;
static SERIAL: Mutex<()> = Mutex::new(());

/// A deployment on the docker provider, in a home of its own; torn down (forced) when dropped.
struct Cloud {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    name: String,
    net: String,
}

impl Cloud {
    /// `net` is the third octet of its 10.213.N.0/24 network.
    fn new(name: &str, net: u8, cloud_yml: &str) -> Cloud {
        testkit::wr_node_image();
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let file = dir.path().join("docker-cloud.yml");
        std::fs::write(&file, cloud_yml).unwrap();
        let env = vec![
            ("HOME".into(), dir.path().join("home").display().to_string()),
            ("WR_DEPLOYMENT".into(), "production".into()),
            ("WR_MANAGERPORT".into(), free_port().to_string()),
            ("WR_MANAGERWEB".into(), free_port().to_string()),
            ("WR_DOCKER_CLOUD".into(), file.display().to_string()),
        ];
        Cloud {
            dir,
            env,
            name: name.into(),
            net: format!("10.213.{net}"),
        }
    }

    fn prefix(&self) -> String {
        format!("wr-prod-{}", self.name)
    }

    fn managerdir(&self) -> PathBuf {
        self.dir.path().join("home/.wr_production")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = bin("wr-cloud");
        c.args(args)
            .current_dir(self.dir.path().join("work"))
            .env_remove("WR_CONFIG_DIR")
            .env_remove("USER");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.run(args))
    }

    fn deploy(&self, extra: &[&str]) -> Value {
        let gateway = format!("{}.1", self.net);
        let cidr = format!("{}.0/24", self.net);
        let args = [
            &[
                "cloud",
                "deploy",
                "-p",
                "docker",
                "--resource_name",
                &self.name,
                "-o",
                "paasta-test/wr-node",
                "-u",
                "wr",
                "-r",
                "256",
                "--network_cidr",
                &cidr,
                "--network_gateway_ip",
                &gateway,
                "--max_local_cores",
                "0",
                "--max_local_ram",
                "0",
            ],
            extra,
        ]
        .concat();
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "deploy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn teardown(&self, force: bool) -> Output {
        let mut args = vec![
            "cloud",
            "teardown",
            "-p",
            "docker",
            "--resource_name",
            &self.name,
        ];
        if force {
            args.push("--force");
        }
        self.run(&args)
    }

    fn add(&self, lines: &str, args: &[&str]) -> Value {
        let mut c = self.cmd(&[&["add"], args].concat());
        serde_json::from_str(&ok(testkit::output_with_input(&mut c, lines))).unwrap()
    }

    fn counts(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--counts"])).unwrap()
    }

    fn servers(&self) -> Vec<Value> {
        json_lines(&self.ok(&["cloud", "servers", "-a"]))
    }

    /// The deployment's containers (servers), by name.
    fn containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args(["ps", "-a", "--format", "{{.Names}}"])
            .args([
                "--filter",
                &format!("label=org.wr-cloud.prefix={}", self.prefix()),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn networks(&self) -> String {
        let out = Command::new("docker")
            .args(["network", "ls", "--format", "{{.Name}}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|n| n.contains(&self.prefix()))
            .collect()
    }

    /// The deployment's ssh key, which deploy makes.
    fn key(&self) -> PathBuf {
        self.managerdir()
            .join(format!("cloud_resources.docker.{}.key", self.prefix()))
    }

    /// A command on the head node, as the deployment's login.
    fn on_head(&self, head_ip: &str, cmd: &str) -> Output {
        testkit::ssh(&self.key(), "wr", head_ip, cmd)
    }

    /// The head node's manager log.
    fn head_log(&self, head_ip: &str) -> String {
        let out = self.on_head(head_ip, "cat .wr_production/log");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.teardown(true);
    }
}

/// Waits until `f` holds, up to `secs`; `what` says what was awaited.
fn wait_for(secs: u64, what: &str, f: impl FnMut() -> bool) {
    testkit::wait_for(secs, Duration::from_millis(250), what, f)
}

const SMALL_MB: u64 = 512;
const BIG_MB: u64 = 1536;

#[test]
fn deploy_schedule_scale_down_survive_a_killed_worker_and_tear_down() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let c = Cloud::new(
        "paasta-test-e2e",
        31,
        "flavors:\n\
         - {name: dt.small, vcpus: 1, ram: 512}\n\
         - {name: dt.big, vcpus: 2, ram: 1536}\n\
         quota: {instances: 5, ram: 6000}\n",
    );
    // A post-creation script, and a config file whose mtime must arrive with it.
    let script = c.dir.path().join("setup.sh");
    std::fs::write(&script, "#!/bin/sh\necho ran > /tmp/script-ran\n").unwrap();
    let settings = c.dir.path().join("settings");
    std::fs::write(&settings, "x = 1\n").unwrap();
    assert!(Command::new("touch")
        .args(["-d", "@1600000000"])
        .arg(&settings)
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    let files = format!("{}:~/.cfg/settings", settings.display());
    let d = c.deploy(&[
        "-k",
        "3",
        "-m",
        "4",
        "--check_every",
        "1",
        "--auto_confirm_dead",
        "0",
        "--retry_delay",
        "1",
        "-s",
        script.to_str().unwrap(),
        "-c",
        &files,
    ]);
    eprintln!(
        "deployed in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        d["timings"]
    );
    assert_eq!(d["status"], "deployed");
    let head_ip = d["head"]["ip"].as_str().unwrap().to_string();
    assert!(head_ip.starts_with("10.213.31."), "{d}");
    assert_eq!(c.containers().len(), 1, "the head node alone");
    assert!(c.key().exists());

    // 50 commands of two sizes; each says how much memory its server has (its flavor).
    let mem = "test -e /tmp/script-ran && test $(stat -c %Y.%a ~/.cfg/settings) = 1600000000.600 && \
               cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
    let small: String = (0..40)
        .map(|i| format!("sleep 0.2; echo small {i}; {mem}\n"))
        .collect();
    let big: String = (0..10)
        .map(|i| format!("sleep 0.2; echo big {i}; {mem}\n"))
        .collect();
    assert_eq!(
        c.add(&small, &["-i", "small", "--cpus", "1", "-m", "200M"])["added"],
        40
    );
    assert_eq!(
        c.add(&big, &["-i", "big", "--cpus", "2", "-m", "1200M"])["added"],
        10
    );
    let mut most = 0;
    wait_for(240, "50 jobs complete", || {
        let servers = c.containers().len();
        most = most.max(servers);
        assert!(servers <= 4, "{servers} servers: over --max_servers 4");
        c.counts()["complete"] == 50
    });
    eprintln!(
        "50 jobs in {:.1} s on at most {most} servers",
        t.elapsed().as_secs_f64()
    );
    assert!(most >= 2, "servers were spawned");
    let jobs = json_lines(&c.ok(&["status", "-s", "complete"]));
    assert_eq!(jobs.len(), 50);
    let mut on_small = 0;
    for j in &jobs {
        assert_eq!(j["attempts"], 1, "ran once: {j}");
        let out = j["stdout"].as_str().unwrap();
        let bytes: u64 = out.lines().last().unwrap().trim().parse().unwrap();
        let mb = bytes / (1024 * 1024);
        if out.starts_with("big") {
            assert_eq!(mb, BIG_MB, "a big job on a dt.big server: {j}");
        } else {
            assert!(mb == SMALL_MB || mb == BIG_MB, "{j}");
            on_small += usize::from(mb == SMALL_MB);
        }
    }
    assert!(on_small > 0, "small jobs got dt.small servers");

    // Idle servers go after the keepalive (3 s).
    wait_for(30, "idle servers destroyed", || {
        c.servers().is_empty() && c.containers().len() == 1
    });

    // Jobs with cloud options get servers of their own kind: another script, a flavor asked
    // for; an image that does not exist buries its jobs, naming the images there are.
    let extra = c.dir.path().join("extra.sh");
    std::fs::write(&extra, "#!/bin/sh\necho extra > /tmp/extra-ran\n").unwrap();
    let opts = [
        "-i",
        "kinds",
        "--cpus",
        "1",
        "-m",
        "200M",
        "--cloud_flavor",
        "dt.big",
        "--cloud_script",
        extra.to_str().unwrap(),
    ];
    // Its script replaces the deployment's; the deployment's config files still come.
    let cmd = "cat /tmp/extra-ran; test ! -e /tmp/script-ran && test -f ~/.cfg/settings && \
               (cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)";
    c.add(&format!("{cmd}\n"), &opts);
    c.add(
        "{\"cmd\":\"true\",\"cloud_os\":\"centos\",\"rep_grp\":\"nowhere\"}\n",
        &[],
    );
    wait_for(
        90,
        "the kinds job complete and the centos job buried",
        || {
            let n = c.counts();
            n["complete"] == 51 && n["buried"] == 1
        },
    );
    let j = &json_lines(&c.ok(&["status", "-i", "kinds"]))[0];
    let out = j["stdout"].as_str().unwrap();
    assert!(out.starts_with("extra\n"), "{j}");
    let bytes: u64 = out.lines().last().unwrap().trim().parse().unwrap();
    assert_eq!(bytes / (1024 * 1024), BIG_MB, "{j}");
    let j = &json_lines(&c.ok(&["status", "-i", "nowhere"]))[0];
    let why = j["fail_reason"].as_str().unwrap();
    assert!(
        why.contains("cloud_os: no image") && why.contains(IMAGE),
        "{why}"
    );
    c.ok(&["remove", "-i", "nowhere"]);
    wait_for(30, "idle servers destroyed again", || {
        c.servers().is_empty()
    });

    // A worker killed mid-command: a warning, the job lost and run again elsewhere.
    c.add(
        "sleep 6; echo survived\n",
        &["-i", "survivor", "--cpus", "1", "-m", "200M"],
    );
    let mut victim = String::new();
    wait_for(60, "the survivor running", || {
        let running = c.ok(&["status", "-s", "running"]);
        if let Some(s) = c.servers().into_iter().find(|s| s["runners"] == 1) {
            victim = s["name"].as_str().unwrap().to_string();
        }
        !running.is_empty() && !victim.is_empty()
    });
    let st = Command::new("docker")
        .args(["kill", &victim])
        .output()
        .unwrap();
    assert!(st.status.success());
    wait_for(90, "the survivor complete", || c.counts()["complete"] == 52);
    // The dead server is listed as bad until confirmed dead.
    let bad = json_lines(&c.ok(&["cloud", "servers"]));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0]["name"], victim.as_str());
    assert!(bad[0]["bad"]["reason"].is_string(), "{bad:?}");
    let would = json_lines(&c.ok(&["cloud", "servers", "--confirmdead", "--all", "--dry-run"]));
    assert_eq!(would[0]["would_destroy"], victim.as_str());
    let done = json_lines(&c.ok(&["cloud", "servers", "--confirmdead", "-i", &victim]));
    assert_eq!(done[0]["destroyed"], victim.as_str());
    let j = &json_lines(&c.ok(&["status", "-i", "survivor"]))[0];
    assert_eq!(j["attempts"], 2, "{j}");
    assert_eq!(j["stdout"], "survived\n");
    let log = c.head_log(&head_ip);
    assert!(
        log.lines()
            .any(|l| l.contains("WARNING") && l.contains(&victim)),
        "{log}"
    );
    assert!(!c.containers().contains(&victim));
    assert!(c.servers().iter().all(|s| s["name"] != victim.as_str()));

    // Teardown leaves nothing: no container, network or key; the queue comes home.
    let out = c.teardown(false);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{r} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r["status"], "torn down");
    // The manager's clean stop destroyed its servers, and teardown waited for it: it removed
    // the head node and the network alone.
    let removed: Vec<&str> = r["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let head = d["head"]["name"].as_str().unwrap();
    assert_eq!(removed.len(), 2, "{r}");
    assert!(removed[0].starts_with(&format!("server {head} ")), "{r}");
    assert!(c.containers().is_empty(), "{:?}", c.containers());
    assert_eq!(c.networks(), "");
    let left: Vec<String> = std::fs::read_dir(c.managerdir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left
            .iter()
            .any(|f| f.starts_with("cloud_resources") || f == "client.token"),
        "{left:?}"
    );
    assert!(
        left.contains(&"db".to_string()),
        "the queue saved: {left:?}"
    );
    assert_eq!(
        c.teardown(false).status.code(),
        Some(1),
        "nothing left to tear down"
    );
}

#[test]
fn a_lost_head_node_is_recovered_from_the_backup_on_s3() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Cloud::new(
        "paasta-test-s3",
        32,
        "flavors:\n- {name: dt.small, vcpus: 1, ram: 512}\n",
    );
    // moto on every address, reached at the network's gateway: from here and from the head.
    let moto = testkit::Moto::start_at("0.0.0.0", "10.213.32.1", &[]);
    for (k, v) in moto.env() {
        c.env.push((k.to_string(), v));
    }
    c.env
        .push(("WR_MANAGERDBBKFILE".into(), "s3://wrbk/wr/db".into()));
    // The gateway is there once deploy makes the network: the bucket is made on loopback.
    ok(Command::new(testkit::disdat_venv().join("bin/python"))
        .args([
            "-c",
            "import boto3; boto3.client('s3').create_bucket(Bucket='wrbk')",
        ])
        .envs(moto.env())
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        )
        .output()
        .unwrap());
    // -m 1: the head node only, which runs nothing: the jobs wait in the queue.
    let first = c.deploy(&["-m", "1"]);
    let lines: String = (0..5).map(|i| format!("echo kept {i}\n")).collect();
    assert_eq!(c.add(&lines, &["-m", "200M"])["added"], 5);
    wait_for(60, "the queue backed up", || {
        let st: Value = serde_json::from_str(&c.ok(&["manager", "status"])).unwrap();
        st["backup"]["last_ok"].is_number() && st["backup"]["pending"] == false
    });

    // The head node dies with the manager and its database.
    let head = first["head"]["name"].as_str().unwrap();
    assert!(Command::new("docker")
        .args(["rm", "-f", head])
        .output()
        .unwrap()
        .status
        .success());
    let again = c.deploy(&["-m", "1"]);
    assert_ne!(again["head"]["name"], first["head"]["name"]);
    let counts = c.counts();
    assert_eq!(counts["ready"], 5, "{counts}");

    let out = c.teardown(false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(c.containers().is_empty());
    assert_eq!(c.networks(), "");
}

#[test]
fn a_manager_that_dies_leaves_its_servers_and_jobs_to_the_next() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let c = Cloud::new(
        "paasta-test-adopt",
        34,
        "flavors:\n- {name: dt.pair, vcpus: 2, ram: 1024}\n",
    );
    // -m 2: the head node and one server, so later jobs can only run on that one.
    let flags = [
        "-k",
        "3",
        "-m",
        "2",
        "--check_every",
        "1",
        "--retry_delay",
        "1",
    ];
    let first = c.deploy(&flags);
    let head_ip = first["head"]["ip"].as_str().unwrap().to_string();
    let job = ["--cpus", "1", "-m", "200M"];
    c.add(
        "sleep 10; echo outlived\n",
        &[&["-i", "outlive"], &job[..]].concat(),
    );
    // Its first attempt's command must be ended before it is retried: it says so if not.
    c.add(
        "sleep 10; echo ran >> /tmp/orphan; cat /tmp/orphan\n",
        &[&["-i", "orphan"], &job[..]].concat(),
    );
    let mut server = String::new();
    wait_for(90, "both jobs running on a server", || {
        if let Some(s) = c.servers().into_iter().find(|s| s["runners"] == 2) {
            server = s["name"].as_str().unwrap().to_string();
        }
        !server.is_empty() && c.counts()["running"] == 2
    });

    // The manager dies; its server and the runners there go on, but for one runner, killed
    // after it, which leaves its command running.
    ok(c.on_head(&head_ip, "kill -9 $(cat .wr_production/pid)"));
    wait_for(10, "the manager gone", || {
        !c.run(&["manager", "status"]).status.success()
    });
    ok(Command::new("docker")
        .args(["exec", &server, "sh", "-c"])
        .arg("kill -9 $(cut -d' ' -f4 /proc/$(pgrep -f '[e]cho ran >> /tmp/orphan')/stat)")
        .output()
        .unwrap());
    // A stale local queue must not go up over the head node's own.
    let local_db = c.managerdir().join("db");
    std::fs::write(&local_db, "a stale local queue\n").unwrap();
    let again = c.deploy(&flags);
    assert_eq!(again["head"]["name"], first["head"]["name"]);
    let theirs = ok(c.on_head(&head_ip, "head -c 15 .wr_production/db"));
    assert_eq!(theirs, "SQLite format 3", "the head node kept its queue");
    assert_eq!(
        std::fs::read_to_string(&local_db).unwrap(),
        "a stale local queue\n"
    );
    wait_for(30, "the server adopted", || {
        let s = c.servers();
        s.len() == 1 && s[0]["name"] == server.as_str() && s[0]["adopted"] == true
    });

    // A job of the same kind goes to the adopted server too: no room for another.
    c.add("echo second\n", &[&["-i", "second"], &job[..]].concat());
    wait_for(90, "the three jobs complete", || {
        let names = c.containers();
        assert!(names.len() <= 2, "a server over -m 2: {names:?}");
        c.counts()["complete"] == 3
    });
    let j = &json_lines(&c.ok(&["status", "-i", "outlive"]))[0];
    assert_eq!(j["attempts"], 1, "not given up nor run twice: {j}");
    assert_eq!(j["stdout"], "outlived\n");
    let j = &json_lines(&c.ok(&["status", "-i", "orphan"]))[0];
    assert_eq!(j["attempts"], 2, "its runner gone, retried: {j}");
    assert_eq!(
        j["stdout"], "ran\n",
        "the first attempt's command was ended"
    );
    let j = &json_lines(&c.ok(&["status", "-i", "second"]))[0];
    assert_eq!(j["stdout"], "second\n");
    assert!(c.containers().contains(&server));
    let log = c.head_log(&head_ip);
    assert!(
        log.lines()
            .any(|l| l.contains(&server) && l.contains("adopted")),
        "{log}"
    );

    // Then it idles out like one of the manager's own.
    wait_for(30, "the idle server destroyed", || {
        c.servers().is_empty() && c.containers().len() == 1
    });
    let out = c.teardown(false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(c.containers().is_empty());
}

/// The error of a command that must fail with exit 2.
fn refused(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    err
}

#[test]
fn bad_input_is_named_and_nothing_is_made() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let c = Cloud::new(
        "paasta-test-bad",
        33,
        "flavors:\n- {name: dt.small, vcpus: 1, ram: 512}\n",
    );
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            "cloud",
            "deploy",
            "-p",
            "docker",
            "--resource_name",
            "paasta-test-bad",
            "-u",
            "wr",
            "-r",
            "256",
            "--network_cidr",
            "10.213.33.0/24",
            "--network_gateway_ip",
            "10.213.33.1",
        ];
        args.extend_from_slice(extra);
        c.run(&args)
    };

    // OpenStack without its variables: every missing one named.
    let mut cmd = c.cmd(&[
        "cloud",
        "deploy",
        "-p",
        "openstack",
        "--resource_name",
        "x",
        "-o",
        "debian",
    ]);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OS_")) {
        cmd.env_remove(k);
    }
    let e = refused(cmd.output().unwrap());
    assert!(
        e.contains("OS_AUTH_URL, OS_PASSWORD, OS_REGION_NAME, OS_USERNAME"),
        "{e}"
    );

    // An image or a flavor that matches nothing: what exists is listed.
    let e = refused(deploy(&["-o", "centos-9"]));
    assert!(e.contains("--os: no image") && e.contains(IMAGE), "{e}");
    let e = refused(deploy(&["-o", "paasta-test/wr-node", "-f", "^m1"]));
    assert!(
        e.contains("--flavor")
            && e.contains("matching ^m1")
            && e.contains("dt.small (1 vCPUs, 512 MB, 0 GB)"),
        "{e}"
    );

    // A resource name too long for a hostname.
    let mut args = vec![
        "cloud",
        "deploy",
        "-p",
        "docker",
        "-o",
        "paasta-test/wr-node",
    ];
    args.extend(["--resource_name", "paasta-test-toolong1"]);
    let e = refused(c.run(&args));
    assert!(e.contains("is 20 characters; at most 18"), "{e}");

    // Misspelt keys: in wr's config file, and in the docker provider's.
    let config = c.dir.path().join("home/.wr_config.yml");
    std::fs::write(&config, "cloudkeepalve: 5\n").unwrap();
    let e = refused(deploy(&["-o", "paasta-test/wr-node"]));
    assert!(
        e.contains(".wr_config.yml") && e.contains("unknown key \"cloudkeepalve\""),
        "{e}"
    );
    std::fs::remove_file(&config).unwrap();
    let yml = c.dir.path().join("docker-cloud.yml");
    std::fs::write(&yml, "flavours:\n- {name: dt.small, vcpus: 1, ram: 512}\n").unwrap();
    let e = refused(deploy(&["-o", "paasta-test/wr-node"]));
    assert!(
        e.contains("docker-cloud.yml (WR_DOCKER_CLOUD)") && e.contains("unknown field `flavours`"),
        "{e}"
    );
    std::fs::write(&yml, "flavors:\n- {name: dt.small, vcpus: 1, ram: 512}\n").unwrap();

    // --dry-run says what it would make, and makes nothing.
    let out = deploy(&["-o", "paasta-test/wr-node", "--dry-run"]);
    let plan: Value = serde_json::from_slice(&ok(out).into_bytes()).unwrap();
    assert_eq!(plan["status"], "would deploy");
    assert_eq!(
        (plan["image"].as_str(), plan["head_flavor"].as_str()),
        (Some(IMAGE), Some("dt.small"))
    );
    assert!(c.containers().is_empty());
    assert_eq!(c.networks(), "");
    assert!(!c.key().exists());
}
