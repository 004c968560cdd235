//! wr-cloud as an operator runs it: real manager processes, real runners and commands, the
//! API over TLS, and backups to moto's S3 server.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use testkit::{bin, free_port, json_lines, ok, outcome};

/// One deployment in a home of its own; its manager is stopped (or killed by its pid) when
/// dropped.
struct Wr {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Wr {
    fn new(deployment: &str) -> Wr {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        let env = vec![
            ("HOME".into(), dir.path().join("home").display().to_string()),
            ("WR_DEPLOYMENT".into(), deployment.into()),
            ("WR_MANAGERPORT".into(), free_port().to_string()),
            ("WR_MANAGERWEB".into(), free_port().to_string()),
        ];
        Wr { dir, env }
    }

    fn with(mut self, k: &str, v: &str) -> Wr {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
        self
    }

    fn home(&self) -> PathBuf {
        PathBuf::from(&self.env.iter().find(|(k, _)| k == "HOME").unwrap().1)
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn managerdir(&self) -> PathBuf {
        let get = |key: &str| {
            self.env
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let dep = get("WR_DEPLOYMENT").unwrap();
        match get("WR_MANAGERDIR") {
            Some(dir) => PathBuf::from(format!("{dir}_{dep}")),
            None => self.home().join(format!(".wr_{dep}")),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = bin("wr-cloud");
        c.args(args)
            .current_dir(self.work())
            .env_remove("WR_CONFIG_DIR");
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

    fn add(&self, lines: &str, args: &[&str]) -> Value {
        let mut c = self.cmd(&[&["add"], args].concat());
        serde_json::from_str(&ok(testkit::output_with_input(&mut c, lines))).unwrap()
    }

    fn start(&self, extra: &[&str]) -> Value {
        let args = [
            &[
                "manager",
                "start",
                "--retry_delay",
                "0.5",
                "--backup_interval",
                "0.2",
            ],
            extra,
        ]
        .concat();
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    fn counts(&self, rep_grp: Option<&str>) -> Value {
        let mut args = vec!["status", "--counts"];
        if let Some(g) = rep_grp {
            args.extend(["-i", g]);
        }
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    fn jobs(&self, args: &[&str]) -> Vec<Value> {
        json_lines(&self.ok(&[&["status"], args].concat()))
    }

    fn wait_for(&self, what: &str, secs: u64, mut f: impl FnMut(&Wr) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {what}; counts now {}",
                self.counts(None)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.managerdir().join("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.managerdir().join("log")).unwrap_or_default()
    }
}

/// Processes whose command line names `dir` (this deployment's manager and runners).
fn processes_of(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .collect()
}

impl Drop for Wr {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = self.cmd(&["manager", "stop", "--timeout", "10"]).output();
            if Path::new(&format!("/proc/{pid}")).exists() {
                kill9(pid);
            }
        }
        // Runners end by themselves a few seconds after their manager; a test leaves none.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = processes_of(&self.managerdir());
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                left.into_iter().for_each(kill9);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn kill9(pid: u32) {
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
}

fn n(v: &Value, state: &str) -> u64 {
    v[state].as_u64().unwrap()
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_thousand_commands_each_run_once_with_their_results_in_status() {
    let wr = Wr::new("production");
    wr.start(&["--max_cores", "2", "--max_ram", "4000"]);
    let log = wr.dir.path().join("ran.log");
    let input: String = (0..1000)
        .map(|i| format!("echo {i} >> {}; echo out-{i}\n", log.display()))
        .collect();
    let added = wr.add(&input, &["-i", "thousand", "--cpus", "0.1", "-m", "10M"]);
    assert_eq!(added, serde_json::json!({"added": 1000, "dups": 0}));
    // The same again: every one is a duplicate of an incomplete or a complete job.
    wr.wait_for("1000 complete", 120, |w| {
        n(&w.counts(Some("thousand")), "complete") == 1000
    });
    let mut ran = lines_of(&log);
    assert_eq!(ran.len(), 1000, "each command ran once");
    ran.sort();
    ran.dedup();
    assert_eq!(ran.len(), 1000);
    let jobs = wr.jobs(&["-i", "thousand"]);
    assert_eq!(jobs.len(), 1000);
    for j in &jobs {
        let i: u64 = j["cmd"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(j["exit_code"], 0);
        assert_eq!(j["attempts"], 1);
        assert_eq!(j["stdout"], format!("out-{i}\n"));
        assert_eq!(j["state"], "complete");
    }
    assert_eq!(wr.jobs(&["-i", "thousand", "--limit", "3"]).len(), 3);
}

#[test]
fn a_manager_killed_while_twenty_run_loses_nothing_and_repeats_nothing() {
    let wr = Wr::new("production");
    wr.start(&["--max_cores", "2", "--max_ram", "8000"]);
    let log = wr.dir.path().join("ran.log");
    let input: String = (0..40)
        .map(|i| format!("sleep 2; echo {i} >> {}\n", log.display()))
        .collect();
    wr.add(&input, &["-i", "k", "--cpus", "0.1", "-m", "10M"]);
    wr.wait_for("20 running", 30, |w| n(&w.counts(None), "running") == 20);
    let first = wr.pid().unwrap();
    kill9(first);
    while Path::new(&format!("/proc/{first}")).exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let again = wr.start(&["--max_cores", "2", "--max_ram", "8000"]);
    assert_ne!(again["pid"].as_u64().unwrap(), first as u64);
    wr.wait_for("40 complete", 60, |w| n(&w.counts(None), "complete") == 40);
    let mut ran = lines_of(&log);
    ran.sort();
    let want: Vec<String> = {
        let mut w: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        w.sort();
        w
    };
    assert_eq!(ran, want, "every command ran exactly once");
    assert!(wr.jobs(&[]).iter().all(|j| j["attempts"] == 1));
}

#[test]
fn a_killed_runner_loses_its_job_which_is_retried_alone() {
    let wr = Wr::new("production");
    wr.start(&["--max_cores", "1"]);
    let log = wr.dir.path().join("ran.log");
    wr.add(
        &format!("sleep 3; echo done >> {}\n", log.display()),
        &["-r", "1"],
    );
    wr.wait_for("a running job with its runner and command", 20, |w| {
        w.jobs(&["--state", "running"])
            .first()
            .is_some_and(|j| j["pid"].is_u64() && j["cmd_pid"].is_u64())
    });
    let runner = wr.jobs(&["--state", "running"])[0]["pid"].as_u64().unwrap();
    kill9(runner as u32);
    wr.wait_for("the job complete", 30, |w| {
        n(&w.counts(None), "complete") == 1
    });
    let j = &wr.jobs(&[])[0];
    assert_eq!(j["attempts"], 2, "{j}");
    assert_eq!(
        lines_of(&log),
        vec!["done"],
        "the first run's command was ended, not left to finish"
    );
    assert!(wr.log().contains("lost: its runner"), "{}", wr.log());
}

#[test]
fn failures_are_retried_then_buried_and_kill_remove_retry_act_on_groups() {
    let wr = Wr::new("production");
    wr.start(&["--max_cores", "2"]);
    wr.add("echo to stderr >&2; exit 3\n", &["-i", "f", "-r", "1"]);
    wr.add("sleep 60\n", &["-i", "s", "--cpus", "0.5"]);
    wr.wait_for("the failure buried", 30, |w| {
        n(&w.counts(Some("f")), "buried") == 1
    });
    let j = &wr.jobs(&["-i", "f"])[0];
    assert_eq!(
        (j["exit_code"].as_i64(), j["attempts"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(j["stderr"], "to stderr\n");
    assert_eq!(j["fail_reason"], "exited with code 3");
    let dry: Value = serde_json::from_str(&wr.ok(&["retry", "-i", "f", "--dry-run"])).unwrap();
    assert_eq!(dry["jobs"], 1);
    assert_eq!(
        n(&wr.counts(Some("f")), "buried"),
        1,
        "a dry run changes nothing"
    );
    let r: Value = serde_json::from_str(&wr.ok(&["retry", "-i", "f"])).unwrap();
    assert_eq!(r["jobs"], 1);
    wr.wait_for("buried again after its retries", 30, |w| {
        w.jobs(&["-i", "f"])[0]["attempts"] == 2 && n(&w.counts(Some("f")), "buried") == 1
    });
    let removed: Value = serde_json::from_str(&wr.ok(&["remove", "-i", "f"])).unwrap();
    assert_eq!(removed["jobs"], 1);
    assert_eq!(n(&wr.counts(Some("f")), "buried"), 0);
    wr.wait_for("the sleep running", 20, |w| {
        n(&w.counts(Some("s")), "running") == 1
    });
    let removed: Value = serde_json::from_str(&wr.ok(&["remove", "-i", "s"])).unwrap();
    assert_eq!(removed["jobs"], 0, "a running job is not removed");
    let killed: Value = serde_json::from_str(&wr.ok(&["kill", "-i", "s"])).unwrap();
    assert_eq!(killed["jobs"], 1);
    // The runner hears of it at its next touch (every 15 s by default).
    wr.wait_for("the sleep killed", 30, |w| {
        n(&w.counts(Some("s")), "buried") == 1
    });
    assert_eq!(
        wr.jobs(&["-i", "s"])[0]["fail_reason"],
        "killed by the user"
    );
    let (code, _, err) = outcome(&wr.run(&["kill"]));
    assert_eq!(code, 2);
    assert!(err.contains("-i REP_GRP"), "{err}");
}

#[test]
fn bad_input_is_refused_whole_and_named() {
    let wr = Wr::new("production");
    wr.start(&[]);
    let mut c = wr.cmd(&["add"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo a\necho b\n{\"cmd\": \"x\", \"memory\": \n")
        .unwrap();
    let (code, out, err) = outcome(&child.wait_with_output().unwrap());
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("stdin: line 3") && err.contains("nothing was queued"),
        "{err}"
    );
    let c = wr.counts(None);
    assert!(c.as_object().unwrap().values().all(|v| v == 0), "{c}");

    // A reporting group's name travels whole in a query.
    wr.add("echo odd\n", &["-i", "odd name&x=1"]);
    wr.wait_for("the odd group's job", 20, |w| {
        n(&w.counts(Some("odd name&x=1")), "complete") == 1
    });
    assert_eq!(wr.jobs(&["-i", "odd name&x=1"]).len(), 1);
    assert_eq!(n(&wr.counts(Some("odd name")), "complete"), 0);

    // A wrong token is refused.
    let token = wr.managerdir().join("client.token");
    let good = std::fs::read_to_string(&token).unwrap();
    std::fs::write(&token, "not-the-token").unwrap();
    let (code, _, err) = outcome(&wr.run(&["status", "--counts"]));
    std::fs::write(&token, good).unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("401") && err.contains("token"), "{err}");

    // A malformed config file: its name, the line and the key.
    let cfg = wr.home().join(".wr_config.yml");
    std::fs::write(&cfg, "managerhost: localhost\ncloudkeepalive: soon\n").unwrap();
    let (code, _, err) = outcome(&wr.run(&["conf"]));
    assert_eq!(code, 2);
    assert!(
        err.contains(&cfg.display().to_string())
            && err.contains("line 2")
            && err.contains("cloudkeepalive"),
        "{err}"
    );
}

#[test]
fn conf_shows_every_value_and_its_source() {
    let wr = Wr::new("production").with("WR_CLOUDKEEPALIVE", "60");
    std::fs::write(
        wr.home().join(".wr_config.yml"),
        "cloudos: focal\ncloudram: 2048\n",
    )
    .unwrap();
    let conf: Value = serde_json::from_str(&wr.ok(&["conf", "--json"])).unwrap();
    assert_eq!(
        conf["cloudkeepalive"],
        serde_json::json!({"value": 60, "source": "env var WR_CLOUDKEEPALIVE"})
    );
    assert_eq!(
        conf["cloudos"]["source"],
        wr.home().join(".wr_config.yml").display().to_string()
    );
    assert_eq!(conf["cloudram"]["source"], "default");
    assert_eq!(
        conf["managerdir"]["value"],
        wr.managerdir().display().to_string()
    );
    assert_eq!(conf.as_object().unwrap().len(), wr::config::KEYS.len());
    let text = wr.ok(&["conf"]);
    assert!(
        text.lines().any(|l| l
            == "cloudos: \"focal\" (".to_string()
                + &wr.home().join(".wr_config.yml").display().to_string()
                + ")"),
        "{text}"
    );
}

#[test]
fn deployments_side_by_side_never_see_each_other() {
    let prod = Wr::new("production");
    let home = prod.home().display().to_string();
    let dev = Wr::new("development").with("HOME", &home);
    // A second production deployment of the same user: its own dir and ports.
    let other = Wr::new("production")
        .with("HOME", &home)
        .with("WR_MANAGERDIR", &format!("{home}/.wr_other"));
    for w in [&prod, &dev, &other] {
        w.start(&[]);
    }
    assert_ne!(prod.managerdir(), dev.managerdir());
    assert_eq!(other.managerdir(), prod.home().join(".wr_other_production"));
    for (w, word) in [(&prod, "prod"), (&dev, "dev"), (&other, "other")] {
        w.add(&format!("echo {word}\n"), &["-i", word]);
    }
    for (w, word) in [(&prod, "prod"), (&dev, "dev"), (&other, "other")] {
        w.wait_for(word, 20, |w| n(&w.counts(None), "complete") == 1);
        let jobs = w.jobs(&[]);
        assert_eq!(jobs.len(), 1, "{word} sees only its own job");
        assert_eq!(jobs[0]["stdout"], format!("{word}\n"));
    }
    let status: Value = serde_json::from_str(&dev.ok(&["manager", "status"])).unwrap();
    assert_eq!(status["deployment"], "development");
    assert!(
        status["backup"]["target"].is_null(),
        "development keeps no backup"
    );
    assert!(other.managerdir().join("db").exists() && !prod.home().join(".wr_other").exists());
}

#[test]
fn the_status_page_needs_the_token() {
    let wr = Wr::new("production");
    let started = wr.start(&[]);
    let web = started["web"].as_u64().unwrap();
    let ca = std::fs::read(wr.managerdir().join("ca.pem")).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                    ureq::tls::Certificate::from_pem(&ca).unwrap(),
                ]))
                .build(),
        )
        .build()
        .into();
    let token = std::fs::read_to_string(wr.managerdir().join("client.token")).unwrap();
    let mut r = agent
        .get(&format!("https://localhost:{web}/?token={token}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.body_mut().read_to_string().unwrap();
    assert!(page.contains("<td>complete</td>"), "{page}");
    let r = agent
        .get(&format!("https://localhost:{web}/"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 401);
    // The key and token are the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    for f in ["key.pem", "client.token"] {
        let mode = std::fs::metadata(wr.managerdir().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
}

#[test]
fn the_queue_comes_back_from_its_s3_backup() {
    let moto = testkit::Moto::start();
    moto.bucket("wrbk");
    let mut wr = Wr::new("production").with("WR_MANAGERDBBKFILE", "s3://wrbk/wr/db");
    for (k, v) in moto.env() {
        wr = wr.with(k, &v);
    }
    wr.start(&[]);
    let input: String = (0..10).map(|i| format!("echo {i}\n")).collect();
    wr.add(&input, &["-i", "ok"]);
    wr.add("exit 1\n", &["-i", "bad", "-r", "0"]);
    wr.wait_for("11 done", 30, |w| {
        let c = w.counts(None);
        n(&c, "complete") == 10 && n(&c, "buried") == 1
    });
    wr.ok(&["manager", "stop"]);
    // The last backup went up at the stop.
    let listed = moto.python("import boto3; print([o['Key'] for o in boto3.client('s3').list_objects_v2(Bucket='wrbk')['Contents']])");
    assert!(listed.contains("wr/db"), "{listed}");
    std::fs::remove_dir_all(wr.managerdir()).unwrap();
    wr.start(&[]);
    assert!(
        wr.log()
            .contains("restored the queue from the backup s3://wrbk/wr/db"),
        "{}",
        wr.log()
    );
    let c = wr.counts(None);
    assert_eq!((n(&c, "complete"), n(&c, "buried")), (10, 1), "{c}");
    assert_eq!(wr.jobs(&["-i", "ok"])[3]["stdout"], "3\n");
}

#[test]
fn an_unreachable_s3_fails_backups_loudly_and_the_manager_goes_on() {
    let moto = testkit::Moto::start();
    moto.bucket("wrbk");
    let relay = testkit::Relay::to(moto.port);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut wr = Wr::new("production").with("WR_MANAGERDBBKFILE", "s3://wrbk/wr/db");
    for (k, v) in moto.env() {
        wr = wr.with(k, &v);
    }
    // With no database and its backup out of reach, starting empty could later overwrite the
    // backup with an empty queue: the manager refuses to start.
    let wr = wr.with("AWS_ENDPOINT_URL", &dead);
    let (code, _, err) = outcome(&wr.run(&["manager", "start"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("restoring the database from its backup s3://wrbk/wr/db"),
        "{err}"
    );

    let wr = wr.with("AWS_ENDPOINT_URL", &relay.endpoint());
    wr.start(&[]);
    wr.add("echo before\n", &[]);
    wr.wait_for("a backup landed", 30, |w| {
        let s: Value = serde_json::from_str(&w.ok(&["manager", "status"])).unwrap();
        s["backup"]["last_ok"].is_number() && !s["backup"]["pending"].as_bool().unwrap()
    });
    relay.cut();
    wr.add("echo still working\n", &[]);
    wr.wait_for("the job complete", 60, |w| {
        n(&w.counts(None), "complete") == 2
    });
    wr.wait_for("the backup to fail", 90, |w| {
        let s: Value = serde_json::from_str(&w.ok(&["manager", "status"])).unwrap();
        s["backup"]["error"].is_string()
    });
    assert!(
        wr.log()
            .contains("database backup to s3://wrbk/wr/db FAILED"),
        "{}",
        wr.log()
    );
    wr.add("echo after\n", &[]);
    wr.wait_for("the next job complete", 30, |w| {
        n(&w.counts(None), "complete") == 3
    });
}
