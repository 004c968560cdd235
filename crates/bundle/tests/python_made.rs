//! The tree Python Disdat 1.2.0 made (fixtures/disdat/python-made): every .pb file decodes,
//! re-encodes to the same bytes and carries the hash the rule gives; the index lists its
//! bundles newest first; a commit by us keeps the file decodable and the hash right.

use bundle::pb::{Frame, HyperFrame, Sealed};
use bundle::{Context, Disdat, Filter};
use prost::Message;
use std::path::{Path, PathBuf};

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/disdat/python-made")
}

/// A scratch home holding a copy of the tree, as a user's would.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    assert!(std::process::Command::new("cp")
        .arg("-R")
        .arg(fixture_root())
        .arg(home.path().join(".disdat"))
        .status()
        .unwrap()
        .success());
    Disdat::init(home.path()).unwrap().unwrap();
    home
}

#[test]
fn every_pb_round_trips_byte_for_byte_with_its_hash() {
    let objects = fixture_root().join("context/ex/objects");
    let mut seen = 0;
    for dir in std::fs::read_dir(objects).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = f.unwrap().path();
            if path.is_dir() {
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let bytes = std::fs::read(&path).unwrap();
            if name.ends_with("_hframe.pb") {
                let m = HyperFrame::decode(bytes.as_slice()).unwrap();
                assert_eq!(m.encode_to_vec(), bytes, "{name}");
                assert!(m.hash_ok(), "{name}");
                seen += 1;
            } else if name.ends_with("_frame.pb") {
                let m = Frame::decode(bytes.as_slice()).unwrap();
                assert_eq!(m.encode_to_vec(), bytes, "{name}");
                assert!(m.hash_ok(), "{name}");
                assert!(m.links.iter().all(|l| l.hash_ok()), "{name}");
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 6);
}

#[test]
fn the_index_lists_newest_first_and_filters() {
    let home = home();
    let d = Disdat::locate(home.path()).unwrap();
    let ctx = Context::open(&d, "ex").unwrap();
    let all = ctx.find(&Filter::default()).unwrap();
    let names: Vec<&str> = all.iter().map(|h| h.human_name.as_str()).collect();
    assert_eq!(names, ["dirb", "mybundle", "mybundle"]);
    let committed = ctx
        .latest(&Filter {
            name: Some("mybundle".into()),
            committed: Some(true),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
    assert_eq!(committed.tag("color"), Some("blue"));
    let red = ctx
        .find(&Filter {
            tags: vec![("color".into(), "red".into())],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(red.len(), 1);
    assert!(!red[0].committed());
}

#[test]
fn a_missing_index_is_rebuilt_from_the_files() {
    let home = home();
    let d = Disdat::locate(home.path()).unwrap();
    std::fs::remove_file(d.context_dir("ex").join("ctxt.db")).unwrap();
    let ctx = Context::open(&d, "ex").unwrap();
    assert_eq!(ctx.find(&Filter::default()).unwrap().len(), 3);
}

#[test]
fn add_and_commit_make_what_python_makes() {
    let home = home();
    let d = Disdat::locate(home.path()).unwrap();
    let ctx = Context::open_for_writing(&d, "ex").unwrap();
    let src = home.path().join("t.csv");
    std::fs::write(&src, "a,b\n5,6\n").unwrap();
    let mut hf = ctx
        .add("mybundle", &[src], &[("color".into(), "green".into())])
        .unwrap();
    assert_eq!(hf.processing_name.split('_').count(), 3);
    assert!(hf.hash_ok());
    assert!(ctx.commit(&mut hf).unwrap());
    assert!(!ctx.commit(&mut hf).unwrap());
    let keys: Vec<&str> = hf.tags.iter().map(|t| t.k.as_str()).collect();
    assert_eq!(keys, ["__param.path", "color", "committed"]);
    let on_disk = ctx.read_hframe(&hf.uuid).unwrap();
    assert_eq!(on_disk, hf);
    assert!(on_disk.hash_ok());
    let latest = ctx
        .latest(&Filter {
            name: Some("mybundle".into()),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
    assert_eq!(latest.uuid, hf.uuid);
    let targets = ctx.link_targets(&latest).unwrap();
    assert_eq!(
        std::fs::read_to_string(&targets[0][0]).unwrap(),
        "a,b\n5,6\n"
    );
}
