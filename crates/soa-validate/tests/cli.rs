//! soa-validate as a user runs it: the fixture tree is valid, and each class of bad input gives
//! a message naming file, line, instance and key, and exit status 1.

use assert_cmd::Command;
use std::path::Path;
use testkit::fixtures;

/// A scratch copy of the fixture soa-configs.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-R")
        .arg(fixtures().join("soa"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

fn cmd(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("soa-validate").unwrap();
    c.arg("-y").arg(dir.join("soa"));
    c
}

/// Appends `text` to a fixture file, validates, and returns stdout (exit status 1 expected) with
/// `{N}` in `text`'s expectations meaning the file's line count before the append.
fn invalid_with(file: &str, text: &str) -> (String, usize) {
    let dir = tree();
    let path = dir.path().join("soa").join(file);
    let mut content = std::fs::read_to_string(&path).unwrap_or_default();
    let base = content.lines().count();
    content.push_str(text);
    std::fs::write(&path, content).unwrap();
    let out = cmd(dir.path()).assert().code(1).get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(&format!("✗ {}", path.display())), "{out}");
    (out, base)
}

#[test]
fn the_fixture_tree_is_valid() {
    let dir = tree();
    let out = cmd(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.lines().all(|l| l.starts_with("✓ ")), "{out}");
    assert!(out.contains("example_service/chronos-local.yaml"));
    let out = cmd(dir.path())
        .args(["-s", "reports"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 4);
}

#[test]
fn malformed_yaml() {
    let (out, n) = invalid_with("example_service/adhoc-local.yaml", "broken: [\n");
    assert!(
        out.contains(&format!("line {}: not valid YAML", n + 2)),
        "{out}"
    );
}

#[test]
fn wrong_type() {
    let (out, n) = invalid_with(
        "example_service/marathon-local.yaml",
        "extra:\n  deploy_group: prod\n  instances: three\n",
    );
    let want = format!("line {}: instance example_service.extra: key instances: instances is the string \"three\", expected an integer", n + 3);
    assert!(out.contains(&want), "{out}");
}

#[test]
fn out_of_range() {
    let (out, _) = invalid_with(
        "example_service/marathon-local.yaml",
        "extra:\n  deploy_group: prod\n  bounce_margin_factor: 1.5\n",
    );
    assert!(out.contains("key bounce_margin_factor: bounce_margin_factor is the number 1.5, expected a number greater than 0 and at most 1"), "{out}");
}

#[test]
fn unknown_key() {
    let (out, n) = invalid_with(
        "example_service/marathon-local.yaml",
        "extra:\n  deploy_group: prod\n  instnaces: 3\n",
    );
    let want = format!(
        "line {}: instance example_service.extra: key instnaces: unknown key instnaces for a marathon instance",
        n + 3
    );
    assert!(out.contains(&want), "{out}");
    let (out, _) = invalid_with(
        "example_service/adhoc-local.yaml",
        "other:\n  deploy_group: prod\n  instances: 3\n",
    );
    assert!(
        out.contains(
            "unknown key instances for an adhoc instance (it is a key of marathon instances)"
        ),
        "{out}"
    );
}

#[test]
fn bad_instance_name() {
    let (out, n) = invalid_with(
        "example_service/adhoc-local.yaml",
        "Big-Batch:\n  deploy_group: prod\n",
    );
    assert!(
        out.contains(&format!(
            "line {}: instance example_service.Big-Batch: the instance name \"Big-Batch\" is not valid",
            n + 1
        )),
        "{out}"
    );
}

#[test]
fn missing_deploy_group() {
    let (out, n) = invalid_with(
        "example_service/adhoc-local.yaml",
        "lost:\n  deploy_group: staging\n",
    );
    let want = format!(
        "line {}: instance example_service.lost: key deploy_group: deploy_group staging is not a deploy group of deploy.yaml's pipeline (its deploy groups: canary, prod)",
        n + 2
    );
    assert!(out.contains(&want), "{out}");
    // Without a deploy_group key the default <cluster>.<instance> must be a step too.
    let (out, _) = invalid_with("example_service/adhoc-local.yaml", "unnamed:\n  cmd: x\n");
    assert!(
        out.contains(
            "instance example_service.unnamed: deploy_group local.unnamed is not a deploy group"
        ),
        "{out}"
    );
}

#[test]
fn bad_schedule() {
    let (out, _) = invalid_with(
        "reports/chronos-local.yaml",
        "daily:\n  cmd: x\n  deploy_group: prod\n  schedule: every day\n",
    );
    assert!(out.contains("instance reports.daily: key schedule: The specified schedule \"every day\" is neither a valid cron schedule nor a valid ISO 8601 schedule"), "{out}");
    let (out, _) = invalid_with("reports/chronos-local.yaml", "daily:\n  cmd: x\n  deploy_group: prod\n  schedule: R/2026-01-01T00:00:00Z/PT10S\n  schedule_time_zone: Mars/Olympus\n");
    assert!(
        out.contains(
            "Unsupported interval \"PT10S\": jobs must be run at an interval of > 60 seconds"
        ),
        "{out}"
    );
    assert!(
        out.contains("key schedule_time_zone: The specified time zone \"Mars/Olympus\""),
        "{out}"
    );
}

#[test]
fn parents_cycle_across_services() {
    let dir = tree();
    let path = dir.path().join("soa/example_service/chronos-local.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "  schedule: \"R/2026-01-01T03:00:00Z/P1D\"\n",
        "  parents: [reports.weekly]\n",
    );
    std::fs::write(&path, text).unwrap();
    let out = cmd(dir.path()).assert().code(1).get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("the jobs' parents form a cycle: example_service.nightly -> reports.weekly -> example_service.nightly"), "{out}");
}

#[test]
fn json_output() {
    let dir = tree();
    std::fs::write(
        dir.path().join("soa/reports/monitoring.yaml"),
        "team: analytics\npage: sometimes\n",
    )
    .unwrap();
    let out = cmd(dir.path())
        .arg("--json")
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], false);
    let bad: Vec<_> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["valid"] == false)
        .collect();
    assert_eq!(bad.len(), 1);
    let p = &bad[0]["problems"][0];
    assert_eq!(p["line"], 2);
    assert_eq!(p["key"], "page");
    assert_eq!(
        p["message"],
        "page is the string \"sometimes\", expected true or false"
    );
}

#[test]
fn unreadable_tree_exits_2() {
    let out = Command::cargo_bin("soa-validate")
        .unwrap()
        .args(["-y", "/nonexistent/soa"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    // The OS error once, the path once; and PaaSTA's name for -y works the same.
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        err.trim_end(),
        "soa-validate: error: /nonexistent/soa: No such file or directory (os error 2)"
    );
    let dir = tree();
    Command::cargo_bin("soa-validate")
        .unwrap()
        .arg("--yelpsoa-config-root")
        .arg(dir.path().join("soa"))
        .assert()
        .code(0);
    cmd(dir.path()).args(["-s", "nope"]).assert().code(2);
}

/// One file that cannot be read or parsed is ✗ with its reason; every other file is still
/// checked and printed, and the exit status is 1.
#[test]
fn one_bad_file_never_hides_the_rest() {
    type Spoil = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Spoil, &str)> = vec![
        (
            "latin-1",
            Box::new(|p: &Path| std::fs::write(p, b"main:\n  cmd: caf\xe9\n").unwrap()),
            "line 2: not UTF-8 text",
        ),
        (
            "a symlink loop",
            Box::new(|p: &Path| {
                std::fs::remove_file(p).unwrap();
                std::os::unix::fs::symlink(p, p).unwrap();
            }),
            "cannot be read: Too many levels of symbolic links",
        ),
        (
            "200 KB of nested brackets",
            Box::new(|p: &Path| {
                let deep = format!("main: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
                std::fs::write(p, deep).unwrap()
            }),
            "line 1: not valid YAML: collections nested more than 100 deep",
        ),
    ];
    for (what, spoil, reason) in cases {
        let dir = tree();
        let bad = dir.path().join("soa/example_service/marathon-local.yaml");
        spoil(&bad);
        let started = std::time::Instant::now();
        let out = cmd(dir.path()).output().unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{what}"
        );
        assert_eq!(out.status.code(), Some(1), "{what}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(&format!("✗ {}\n    {reason}", bad.display())),
            "{what}: {text}"
        );
        assert!(
            text.contains(&format!(
                "✓ {}",
                dir.path()
                    .join("soa/example_service/service.yaml")
                    .display()
            )),
            "{what}: the other files are still checked: {text}"
        );
        assert!(text.contains("chronos-local.yaml"), "{what}: {text}");
    }
}

#[test]
fn a_root_without_services_is_an_error_that_says_what_it_found() {
    let dir = tree();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = |root: &Path| {
        let out = Command::cargo_bin("soa-validate")
            .unwrap()
            .arg("-y")
            .arg(root)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&empty);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no service here: a soa-configs root holds one directory per service"),
        "{err}"
    );
    let (code, err) = run(&dir.path().join("soa/example_service"));
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!(
            "this is one service's directory, not a soa-configs root: validate its parent ({}), or `-s example_service` there",
            dir.path().join("soa").display()
        )),
        "{err}"
    );
}

/// Keys PaaSTA's schemas have (v0.86, and later releases') are accepted in every file type.
#[test]
fn keys_paasta_accepts_are_accepted() {
    let dir = tree();
    let svc = dir.path().join("soa/example_service");
    let append = |file: &str, text: &str| {
        let path = svc.join(file);
        let mut content = std::fs::read_to_string(&path).unwrap();
        content.push_str(text);
        std::fs::write(&path, content).unwrap();
    };
    append(
        "marathon-local.yaml",
        "more:\n  deploy_group: prod\n  gpus: 1\n  bounce_priority: -2\n  bounce_start_deadline: 30.5\n  previous_marathon_shards: [1, 2]\n  sfn_autoscaling: {min: 1}\n",
    );
    append(
        "adhoc-local.yaml",
        "gpu_batch:\n  deploy_group: prod\n  gpus: 2\n",
    );
    append(
        "chronos-local.yaml",
        "graceful:\n  cmd: \"true\"\n  schedule: \"R/2026-01-01T03:00:00Z/P1D\"\n  deploy_group: prod\n  bounce_method: graceful\n",
    );
    append(
        "service.yaml",
        "cost_owner: search-team\nneeds_puppet_help: false\n",
    );
    append(
        "smartstack.yaml",
        "  extra_headers: {X-Mode: fast}\n  proxied_through: main.proxy\n  allredisp: true\n  idle_timeout: 300\n  balance: leastconn\n  endpoint_timeouts: {/slow: 5000}\nunlisted:\n  proxy_port: null\n",
    );
    append(
        "deploy.yaml",
        "  - step: later\n    slack_notify: true\n    timeout: 3600\n    command: make deploy\n    auto_rollback: false\n    ignore_failure: true\nallow_no_verify_deploy: true\ndefault_deploy_strategy: verify\n",
    );
    let out = cmd(dir.path()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // A wrong type is still refused.
    let path = svc.join("service.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("needs_puppet_help: false", "needs_puppet_help: sometimes"),
    )
    .unwrap();
    let out = cmd(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("key needs_puppet_help: needs_puppet_help is the string \"sometimes\", expected true or false"), "{text}");
}

#[test]
fn an_empty_instance_file_is_invalid() {
    let dir = tree();
    let file = dir.path().join("soa/example_service/adhoc-local.yaml");
    std::fs::write(&file, "# nothing here yet\n\n").unwrap();
    let out = cmd(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "✗ {}\n    line 1: the file holds no instance",
            file.display()
        )),
        "{text}"
    );
    // A file that does not parse is said to be invalid YAML, not empty as well.
    std::fs::write(&file, "batch: [unclosed\n").unwrap();
    let text = String::from_utf8_lossy(&cmd(dir.path()).output().unwrap().stdout).to_string();
    assert!(
        text.contains("not valid YAML") && !text.contains("holds no instance"),
        "{text}"
    );
}

/// A file type not run here is a warning (exit 0), an error under --strict; -v lists what is
/// accepted and unused, and the warning shows with or without it.
#[test]
fn unsupported_files_warn_strict_fails_and_verbose_lists_unused_keys() {
    let dir = tree();
    let service = dir.path().join("soa/example_service");
    std::fs::write(service.join("eks-local.yaml"), "main:\n  cpus: 1\n").unwrap();
    std::fs::write(
        service.join("kubernetes-local.yaml"),
        "k8s:\n  deploy_group: prod\n  namespace: paasta\n",
    )
    .unwrap();
    let out = cmd(dir.path()).assert().code(0).get_output().clone();
    let text = String::from_utf8(out.stdout).unwrap();
    let eks = service.join("eks-local.yaml");
    assert!(
        text.contains(&format!(
            "✓ {}\n    warning: file type not supported: eks instances",
            eks.display()
        )),
        "{text}"
    );
    assert!(!text.contains("note:"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(", 1 warnings"));

    let text = String::from_utf8(
        cmd(dir.path())
            .arg("-v")
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(
        text.contains(
            "    note: line 3: instance example_service.k8s: key namespace: namespace: accepted"
        ),
        "{text}"
    );
    let text = String::from_utf8(
        cmd(dir.path())
            .arg("--strict")
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(text.contains(&format!("✗ {}", eks.display())), "{text}");
}
