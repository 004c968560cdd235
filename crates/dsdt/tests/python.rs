//! dsdt and Python Disdat 1.2.0 on the same trees (bin/ensure-disdat.sh installs Python
//! Disdat; `make test` runs it): a context Python made is listed and printed by ours as Python
//! prints it, and committed by ours; bundles ours made are listed and printed by Python the same
//! way, and their .pb files pass Python's hash check. Each test has a home of its own.

use testkit::disdat::Home;

/// The commands both tools must print alike on one tree.
const READS: &[&[&str]] = &[
    &["context"],
    &["ls"],
    &["ls", "-v"],
    &["ls", "-v", "-p", "-a"],
    &["ls", "mybundle", "-v", "-p"],
    &["ls", "-v", "-t", "color:red"],
    &["cat", "mybundle"],
    &["cat", "dirb"],
    &["ls", "-r"],
    &["ls", "-i", "-v"],
];

fn same_reads(h: &Home) {
    for args in READS {
        assert_eq!(h.ours(args), h.python(args), "dsdt {args:?}");
    }
}

#[test]
fn a_context_python_made_reads_the_same_and_ours_commits_into_it() {
    let h = Home::new();
    h.files();
    h.python(&["init"]);
    h.python(&["context", "ex"]);
    h.python(&["switch", "ex"]);
    h.python(&["add", "-t", "color:red", "mybundle", "t.csv"]);
    std::fs::write(h.path().join("t.csv"), "a,b\n3,4\n").unwrap();
    h.python(&["add", "-t", "color:blue", "mybundle", "t.csv"]);
    h.python(&["add", "dirb", "dd"]);
    h.python(&["commit", "mybundle"]);
    same_reads(&h);
    // Ours commits what Python made; Python sees it committed and the hash right.
    h.ours(&["commit", "dirb"]);
    assert!(h.python(&["ls", "-v", "dirb"]).contains("\tTrue    \t"));
    same_reads(&h);
    assert_eq!(h.python_hash_check("ex"), 6);
    for line in h.ours(&["ls", "--json"]).lines() {
        let uuid = serde_json::from_str::<serde_json::Value>(line).unwrap()["uuid"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(h.ours(&["lineage", &uuid]), h.python(&["lineage", &uuid]));
    }
    let again = h.ours(&["commit", "dirb"]);
    assert!(
        again.starts_with("Bundle human name [dirb] uuid ["),
        "{again}"
    );
    assert!(again.ends_with("] already committed.\n"), "{again}");
}

#[test]
fn bundles_ours_made_read_the_same_in_python_and_pass_its_hash_check() {
    let h = Home::new();
    h.files();
    h.ours(&["init"]);
    assert_eq!(
        h.ours(&["context", "ex"]),
        format!(
            "Disdat created data context None/ex at object dir {}/.disdat/context/ex/objects.\n",
            h.path().display()
        )
    );
    assert_eq!(h.ours(&["switch", "ex"]), "Switched to context ex\n");
    h.ours(&["add", "-t", "color:red", "mybundle", "t.csv"]);
    std::fs::write(h.path().join("t.csv"), "a,b\n3,4\n").unwrap();
    h.ours(&["add", "-t", "color:blue", "mybundle", "t.csv"]);
    h.ours(&["add", "dirb", "dd"]);
    h.ours(&["commit", "mybundle"]);
    same_reads(&h);
    assert_eq!(h.python_hash_check("ex"), 6);
    // Python commits ours, then removes one; ours sees both.
    h.python(&["commit", "dirb"]);
    h.python(&["rm", "mybundle"]);
    same_reads(&h);
    let left = h.ours(&["ls", "-v"]);
    assert_eq!(left.lines().count(), 3, "{left}");
}

#[test]
fn python_rebuilds_an_index_from_our_files_alone() {
    let h = Home::new();
    h.files();
    h.ours(&["init"]);
    h.ours(&["context", "ex"]);
    h.ours(&["switch", "ex"]);
    h.ours(&["add", "mybundle", "t.csv"]);
    h.ours(&["commit", "mybundle"]);
    std::fs::remove_file(h.path().join(".disdat/context/ex/ctxt.db")).unwrap();
    assert_eq!(h.python(&["ls"]), "mybundle\n");
    assert_eq!(h.ours(&["ls", "-v"]), h.python(&["ls", "-v"]));
}

#[test]
fn lineage_follows_dependencies_as_python_does() {
    use bundle::pb::{Dependency, HyperFrame, Sealed};
    use prost::Message;
    let h = Home::new();
    h.files();
    h.ours(&["init"]);
    h.ours(&["context", "ex"]);
    h.ours(&["switch", "ex"]);
    h.ours(&["add", "parent", "t.csv"]);
    h.ours(&["add", "child", "dd"]);
    let uuid_of = |name: &str| {
        let v: serde_json::Value =
            serde_json::from_str(h.ours(&["ls", name, "--json"]).trim()).unwrap();
        v["uuid"].as_str().unwrap().to_string()
    };
    let (parent, child) = (uuid_of("parent"), uuid_of("child"));
    // The child depends on the parent and on a bundle this context does not have.
    let path = h
        .path()
        .join(".disdat/context/ex/objects")
        .join(&child)
        .join(format!("{child}_hframe.pb"));
    let mut hf = HyperFrame::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    let l = hf.lineage.as_mut().unwrap();
    l.code_repo = "git@example.com:team/pipes.git".into();
    l.code_hash = "abc123".into();
    l.start_time = 10.5;
    l.stop_time = 12.25;
    for (u, arg) in [
        (parent.as_str(), "a"),
        ("00000000-0000-4000-8000-000000000000", "b"),
    ] {
        l.depends_on.push(Dependency {
            hframe_proc_name: "x".into(),
            hframe_uuid: u.into(),
            arg_name: arg.into(),
        });
    }
    hf.seal();
    std::fs::write(&path, hf.encode_to_vec()).unwrap();
    std::fs::remove_file(h.path().join(".disdat/context/ex/ctxt.db")).unwrap();
    let ours = h.ours(&["lineage", &child]);
    assert_eq!(ours, h.python(&["lineage", &child]));
    assert!(ours.contains("\t------ Lineage @ depth 1 ----- "), "{ours}");
    assert!(ours.contains("git commit URL: https://example.com/team/pipes/commit/abc123"));
    assert!(ours.contains("No lineage found for UUID 00000000-0000-4000-8000-000000000000"));
    assert_eq!(
        h.ours(&["lineage", &child, "-d", "0"]),
        h.python(&["lineage", &child, "-d", "0"])
    );
}

#[test]
fn values_python_stored_print_the_same_or_as_json() {
    let h = Home::new();
    h.python(&["init"]);
    h.python(&["context", "ex"]);
    h.python(&["switch", "ex"]);
    let script = concat!(
        "import disdat.api as api\n",
        "import numpy as np\n",
        "for name, v in [('int7', 7), ('pi', 3.14159), ('s', 'hello'), ('ints', np.array([1, 10, -3])),\n",
        "                ('floats', [1.0, 2.5]), ('strs', ['a', 'b']), ('tup', (1, 2)),\n",
        "                ('d', {'a': [7], 'b': [1.5, 2.5]}), ('none', None)]:\n",
        "    with api.Bundle('ex', name=name) as b:\n",
        "        b.add_data(v)\n",
    );
    testkit::ok(
        h.command(&testkit::disdat_venv().join("bin/python"))
            .args(["-c", script])
            .output()
            .unwrap(),
    );
    for name in ["int7", "pi", "s", "ints", "strs", "none"] {
        assert_eq!(h.ours(&["cat", name]), h.python(&["cat", name]), "{name}");
    }
    let json = |name: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(h.ours(&["cat", name, "--json"]).trim()).unwrap()
            ["value"]
            .clone()
    };
    assert_eq!(json("floats"), serde_json::json!([1.0, 2.5]));
    assert_eq!(json("tup"), serde_json::json!([1, 2]));
    assert_eq!(json("d"), serde_json::json!({"a": [7], "b": [1.5, 2.5]}));
    assert_eq!(json("int7"), serde_json::json!(7));
    assert_eq!(json("none"), serde_json::Value::Null);
    let (code, out, err) = h.ours_out(&["cat", "floats"]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("--json"), "{err}");
}
