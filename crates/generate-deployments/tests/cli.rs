//! generate-deployments as a user runs it, against real git repositories built by the fixture
//! scripts.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;
use testkit::{fixture_tree as setup, json_lines};

const FIXTURE_PROD_SHA: &str = "086f9886fc717b1b7b536d399573dcb0a463ba75";

fn cmd(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("generate-deployments").unwrap();
    c.env("SOA_DIR", dir.join("soa"))
        .env("PAASTA_SYSTEM_CONFIG_DIR", dir.join("etc_paasta"));
    c
}

/// Runs with `args`, expects exit status `code`, returns stderr.
fn stderr_of(dir: &Path, args: &[&str], code: i32) -> String {
    let out = cmd(dir).args(args).assert().code(code).get_output().clone();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lines(out: &[u8]) -> Vec<Value> {
    json_lines(&String::from_utf8_lossy(out))
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn deployments(dir: &Path, service: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(dir.join("soa").join(service).join("deployments.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn writes_once_then_reports_unchanged_without_rewriting() {
    let dir = setup();
    let out = cmd(dir.path())
        .args(["-s", "example_service"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let l = lines(&out);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["service"], "example_service");
    assert_eq!(l[0]["changed"], true);
    assert_eq!(l[0]["deploy_groups"], serde_json::json!(["prod", "canary"]));
    let path = dir.path().join("soa/example_service/deployments.json");
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(&path).unwrap().ino();
    let out = cmd(dir.path())
        .args(["-s", "example_service"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(lines(&out)[0]["changed"], false);
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "an unchanged file must not be replaced"
    );
    let d = deployments(dir.path(), "example_service");
    assert_eq!(d["v2"]["deployments"]["prod"]["git_sha"], FIXTURE_PROD_SHA);
    assert_eq!(
        d["v2"]["controls"]["example_service:local.main"]["force_bounce"],
        "20260101T130000"
    );
    assert_eq!(
        d["v2"]["controls"]["example_service:local.batch"]["desired_state"],
        "stop"
    );
    // Nothing but the file is left in the directory (no temp files).
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("soa/example_service"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_new_deploy_tag_changes_the_image_and_ends_an_older_stop() {
    let dir = setup();
    cmd(dir.path()).arg("--all").assert().success();
    let repo = dir.path().join("repos/example_service.git");
    let head = git(&repo, &["rev-parse", "refs/heads/master"]);
    git(
        &repo,
        &[
            "update-ref",
            "refs/tags/paasta-prod-20260105T000000-deploy",
            &head,
        ],
    );
    let out = cmd(dir.path())
        .arg("--all")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let l = lines(&out);
    assert_eq!(
        l.iter()
            .map(|x| x["service"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["example_service", "reports"]
    );
    assert_eq!(l[0]["changed"], true);
    let d = deployments(dir.path(), "example_service");
    assert_eq!(d["v2"]["deployments"]["prod"]["git_sha"], head.as_str());
    // The stop tag pointed at the old sha: the new deploy starts the instance again.
    assert_eq!(
        d["v2"]["controls"]["example_service:local.batch"],
        serde_json::json!({"desired_state": "start", "force_bounce": null})
    );
    assert_eq!(
        d["v1"]["example_service:paasta-local.main"]["docker_image"],
        format!("services-example_service:paasta-{head}")
    );
}

#[test]
fn image_version_and_annotated_tags() {
    let dir = setup();
    let repo = dir.path().join("repos/example_service.git");
    let head = git(&repo, &["rev-parse", "refs/heads/master"]);
    git(
        &repo,
        &[
            "update-ref",
            "refs/tags/paasta-prod+build42-20260106T000000-deploy",
            &head,
        ],
    );
    // An annotated stop tag on the same commit: it counts as the commit it points at.
    std::process::Command::new("git")
        .arg("--git-dir")
        .arg(&repo)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "tag",
            "-a",
            "-m",
            "stop it",
            "paasta-local.main-20260106T010000-stop",
            &head,
        ])
        .status()
        .unwrap();
    cmd(dir.path())
        .args(["-s", "example_service"])
        .assert()
        .success();
    let d = deployments(dir.path(), "example_service");
    assert_eq!(
        d["v2"]["deployments"]["prod"],
        serde_json::json!({
            "docker_image": format!("services-example_service:paasta-{head}-build42"),
            "git_sha": head,
            "image_version": "build42",
        })
    );
    assert_eq!(
        d["v2"]["controls"]["example_service:local.main"],
        serde_json::json!({"desired_state": "stop", "force_bounce": "20260106T010000"})
    );
}

#[test]
fn dry_run_and_stdout_output_write_nothing() {
    let dir = setup();
    let path = dir.path().join("soa/example_service/deployments.json");
    let out = cmd(dir.path())
        .args(["-s", "example_service", "--dry-run"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(lines(&out)[0]["changed"], true);
    assert!(!path.exists());
    let out = cmd(dir.path())
        .args(["-s", "example_service", "-o", "-"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("{\"v1\": {\"example_service:paasta-local.main\": {\"docker_image\": "),
        "{text}"
    );
    assert!(!path.exists());
    let other = dir.path().join("elsewhere.json");
    cmd(dir.path())
        .args(["-s", "example_service", "-o"])
        .arg(&other)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&other).unwrap() + "\n", text);
}

#[test]
fn an_unreadable_git_url_is_named_and_the_existing_file_kept() {
    let dir = setup();
    cmd(dir.path())
        .args(["-s", "example_service"])
        .assert()
        .success();
    let path = dir.path().join("soa/example_service/deployments.json");
    let before = std::fs::read(&path).unwrap();
    let service_yaml = dir.path().join("soa/example_service/service.yaml");
    for url in ["/nonexistent/repo.git", "git://127.0.0.1:9/nothing.git"] {
        std::fs::write(&service_yaml, format!("git_url: {url}\n")).unwrap();
        let started = std::time::Instant::now();
        let stderr = stderr_of(dir.path(), &["-s", "example_service"], 2);
        assert!(started.elapsed().as_secs() < 10);
        assert!(
            stderr.contains(&format!("cannot read the tags of {url}")),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
    // A directory that is not a repository.
    std::fs::write(
        &service_yaml,
        format!("git_url: {}\n", dir.path().join("soa").display()),
    )
    .unwrap();
    let stderr = stderr_of(dir.path(), &["-s", "example_service"], 2);
    assert!(stderr.contains("not a git repository"), "{stderr}");
}

#[test]
fn malformed_yaml_names_file_and_line_and_writes_nothing() {
    let dir = setup();
    let file = dir.path().join("soa/example_service/marathon-local.yaml");
    std::fs::write(&file, "main:\n  instances: 3\n  env: [unclosed\n").unwrap();
    let stderr = stderr_of(dir.path(), &["-s", "example_service"], 1);
    assert!(
        stderr.contains(&format!("{}:4: not valid YAML", file.display())),
        "{stderr}"
    );
    assert!(!dir
        .path()
        .join("soa/example_service/deployments.json")
        .exists());
}

#[test]
fn a_deploy_group_of_the_wrong_type_names_instance_and_key() {
    let dir = setup();
    let file = dir.path().join("soa/example_service/marathon-local.yaml");
    std::fs::write(&file, "main:\n  deploy_group: [prod]\n").unwrap();
    let stderr = stderr_of(dir.path(), &["-s", "example_service"], 1);
    assert!(
        stderr.contains(&format!(
            "{}:2: instance example_service.main: key deploy_group: deploy_group is a list, expected a string",
            file.display()
        )),
        "{stderr}"
    );
    assert!(!dir
        .path()
        .join("soa/example_service/deployments.json")
        .exists());
}

#[test]
fn all_goes_on_past_a_broken_service() {
    let dir = setup();
    std::fs::write(
        dir.path().join("soa/example_service/service.yaml"),
        "description: a bad url\ngit_url: [not, a, url]\n",
    )
    .unwrap();
    let out = cmd(dir.path())
        .arg("--all")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let l = lines(&out.stdout);
    assert!(
        l[0]["error"]
            .as_str()
            .unwrap()
            .contains("git_url is a list, expected the URL or path"),
        "{l:?}"
    );
    assert_eq!(l[1]["service"], "reports");
    assert!(dir.path().join("soa/reports/deployments.json").exists());
}

/// Without git_url, PaaSTA's rule: the repository is where the system config's template says
/// (`git_url_template`, PaaSTA's own host unless set).
#[test]
fn without_git_url_the_system_configs_template_names_the_repository() {
    let dir = setup();
    std::fs::write(
        dir.path().join("soa/example_service/service.yaml"),
        "description: no url\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc_paasta/git.json"),
        format!(
            r#"{{"git_url_template": "{}/repos/{{service}}.git"}}"#,
            dir.path().display()
        ),
    )
    .unwrap();
    cmd(dir.path())
        .args(["-s", "example_service"])
        .assert()
        .code(0);
    assert!(dir
        .path()
        .join("soa/example_service/deployments.json")
        .exists());
}

#[test]
fn usage_errors_exit_2() {
    let dir = setup();
    cmd(dir.path()).assert().code(2);
    cmd(dir.path()).args(["-s", "x", "--all"]).assert().code(2);
    let stderr = stderr_of(dir.path(), &["-s", "no_such_service"], 1);
    assert!(
        stderr.contains("no such service: no_such_service"),
        "{stderr}"
    );
}

#[test]
fn a_repository_without_tags_gives_an_empty_file() {
    let dir = setup();
    let repo = dir.path().join("repos/empty.git");
    assert!(std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&repo)
        .status()
        .unwrap()
        .success());
    std::fs::write(
        dir.path().join("soa/reports/service.yaml"),
        format!("git_url: {}\n", repo.display()),
    )
    .unwrap();
    let out = cmd(dir.path())
        .args(["-s", "reports"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(lines(&out)[0]["deploy_groups"], serde_json::json!([]));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("soa/reports/deployments.json")).unwrap(),
        r#"{"v1": {}, "v2": {"deployments": {}, "controls": {}}}"#
    );
}
