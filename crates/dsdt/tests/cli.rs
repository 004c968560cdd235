//! dsdt's failures and guarantees, without Python: every error exits 2 naming what is wrong,
//! nothing is half-made, two writers into one context both land, and a link that would leave
//! its bundle's directory is refused.

use bundle::pb::{self, Frame, Sealed};
use prost::Message;
use std::path::Path;
use std::process::Command;
use testkit::outcome;

fn dsdt(home: &Path, args: &[&str]) -> (i32, String, String) {
    outcome(
        &Command::new(env!("CARGO_BIN_EXE_dsdt"))
            .args(args)
            .current_dir(home)
            .env("HOME", home)
            .output()
            .unwrap(),
    )
}

fn ok(home: &Path, args: &[&str]) -> String {
    let (code, out, err) = dsdt(home, args);
    assert_eq!(code, 0, "dsdt {args:?}: {err}");
    out
}

/// A home with context `ex` current and bundle `b` of one file.
fn home() -> tempfile::TempDir {
    let h = tempfile::tempdir().unwrap();
    ok(h.path(), &["init"]);
    ok(h.path(), &["context", "ex"]);
    ok(h.path(), &["switch", "ex"]);
    std::fs::write(h.path().join("f.txt"), "data\n").unwrap();
    ok(h.path(), &["add", "b", "f.txt"]);
    h
}

#[test]
fn errors_exit_2_and_say_what_is_wrong() {
    let bare = tempfile::tempdir().unwrap();
    let (code, _, err) = dsdt(bare.path(), &["ls"]);
    assert_eq!(code, 2);
    assert!(err.contains("Call \"dsdt init\""), "{err}");
    let h = home();
    let cases: &[(&[&str], &str)] = &[
        (&["init"], "DisDat already initialized in"),
        (
            &["cat", "nope"],
            "Disdat cat found no bundle with name nope or uuid None",
        ),
        (
            &["commit", "nope"],
            "No bundle with human name [nope] or uuid [None] found.",
        ),
        (&["switch", "nope"], "Context nope not found."),
        (
            &["ls", "a", "b"],
            "dsdt ls takes zero or one bundle as arguments.",
        ),
        (&["add", "x", "missing.txt"], "missing.txt"),
        (
            &["add", "-t", "novalue", "x", "f.txt"],
            "expected KEY:VALUE",
        ),
        (&["frobnicate"], "no dsdt-frobnicate beside dsdt or on PATH"),
    ];
    for (args, expected) in cases {
        let (code, out, err) = dsdt(h.path(), args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // A failed add leaves no bundle directory behind.
    let objects = h.path().join(".disdat/context/ex/objects");
    assert_eq!(std::fs::read_dir(&objects).unwrap().count(), 1);
}

#[test]
fn malformed_files_are_named() {
    let h = home();
    let ctxt = h.path().join(".disdat/context/ex/ctxt.json");
    std::fs::write(&ctxt, "{not json").unwrap();
    let (code, _, err) = dsdt(h.path(), &["ls"]);
    assert_eq!(code, 2);
    assert!(err.contains(&ctxt.display().to_string()), "{err}");
    std::fs::write(
        &ctxt,
        r#"{"remote_ctxt": null, "local_ctxt": "ex", "remote_ctxt_url": null}"#,
    )
    .unwrap();
    let uuid = ok(h.path(), &["ls", "--json"]);
    let uuid = serde_json::from_str::<serde_json::Value>(uuid.trim()).unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = h.path().join(".disdat/context/ex/objects").join(&uuid);
    let frame = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with("_frame.pb"))
        .unwrap();
    std::fs::write(&frame, b"\xff\xff\xff").unwrap();
    let (code, _, err) = dsdt(h.path(), &["cat", "b"]);
    assert_eq!(code, 2);
    assert!(err.contains(&frame.display().to_string()), "{err}");
}

#[test]
fn two_adds_at_once_both_land() {
    let h = home();
    let spawn = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_dsdt"))
            .args(["add", name, "f.txt"])
            .current_dir(h.path())
            .env("HOME", h.path())
            .spawn()
            .unwrap()
    };
    let mut children: Vec<_> = (0..4).map(|i| spawn(&format!("c{i}"))).collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let names = ok(h.path(), &["ls"]);
    for i in 0..4 {
        assert!(names.lines().any(|l| l == format!("c{i}")), "{names}");
    }
}

#[test]
fn a_link_leaving_its_bundle_is_refused() {
    let h = home();
    let listed = ok(h.path(), &["ls", "--json"]);
    let uuid = serde_json::from_str::<serde_json::Value>(listed.trim()).unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = h.path().join(".disdat/context/ex/objects").join(&uuid);
    let frame_path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with("_frame.pb"))
        .unwrap();
    let original = std::fs::read(&frame_path).unwrap();
    for target in ["bundle://../../../../etc/passwd", "bundle:///etc/passwd"] {
        let mut frame = Frame::decode(original.as_slice()).unwrap();
        frame.links[0].link = Some(pb::link::Kind::Local(pb::LocalLink {
            path: target.into(),
        }));
        frame.links[0].seal();
        frame.seal();
        std::fs::write(&frame_path, frame.encode_to_vec()).unwrap();
        let (code, out, err) = dsdt(h.path(), &["cat", "b"]);
        assert_eq!(code, 2, "{target}: {out}");
        assert!(err.contains("would leave the bundle's directory"), "{err}");
    }
    // A symlink in the bundle's directory that points outside it.
    std::fs::write(&frame_path, &original).unwrap();
    let file = dir.join("f.txt");
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &file).unwrap();
    let (code, _, err) = dsdt(h.path(), &["cat", "b"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("symlink out of the bundle's directory"),
        "{err}"
    );
}

#[test]
fn dsdt_runs_dsdt_name_for_a_command_it_does_not_have() {
    use std::os::unix::fs::PermissionsExt;
    let bin = tempfile::tempdir().unwrap();
    let script = bin.path().join("dsdt-greet");
    std::fs::write(&script, "#!/bin/sh\necho \"greet $*\"\nexit 3\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_dsdt"))
        .args(["greet", "a", "--b"])
        .env("PATH", path)
        .output()
        .unwrap();
    let (code, stdout, _) = outcome(&out);
    assert_eq!(stdout, "greet a --b\n");
    assert_eq!(code, 3, "the command's exit status is dsdt's");
}
