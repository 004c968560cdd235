//! dsdt and Python Disdat 1.2.0 on the same trees (bin/ensure-disdat.sh installs Python
//! Disdat; `make test` runs it): a context Python made is listed and printed by ours as Python
//! prints it, and committed by ours; bundles ours made are listed and printed by Python the same
//! way, and their .pb files pass Python's hash check. Each test has a home of its own.

use std::path::Path;
use std::process::{Command, Output};
use testkit::{disdat_venv, outcome};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, program: &Path, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .current_dir(self.path())
            .env("HOME", self.path())
            .env("TZ", "UTC")
            .env("USER", "tester")
            .env("LOGNAME", "tester")
            .output()
            .unwrap()
    }

    /// Ours; stdout of a run that must succeed.
    fn ours(&self, args: &[&str]) -> String {
        let out = self.run(Path::new(env!("CARGO_BIN_EXE_dsdt")), args);
        let (code, stdout, stderr) = outcome(&out);
        assert_eq!(code, 0, "dsdt {args:?}: {stderr}");
        stdout
    }

    /// Python Disdat's; stdout (it exits 0 on most failures: the output says).
    fn python(&self, args: &[&str]) -> String {
        let out = self.run(&disdat_venv().join("bin/dsdt"), args);
        let (code, stdout, stderr) = outcome(&out);
        assert_eq!(code, 0, "python dsdt {args:?}: {stdout}{stderr}");
        stdout
    }

    /// Python's hash check on every .pb file of context `ctx`; how many were checked.
    fn python_hash_check(&self, ctx: &str) -> usize {
        let script = format!(
            "import glob\nfrom disdat import hyperframe as h\nn = 0\n\
             for f in glob.glob('{0}/*/*_hframe.pb'):\n    h.r_pb_fs(f, h.HyperFrameRecord, validate_cksum=True); n += 1\n\
             for f in glob.glob('{0}/*/*_frame.pb'):\n    h.r_pb_fs(f, h.FrameRecord, validate_cksum=True); n += 1\n\
             print(n)\n",
            self.path().join(".disdat/context").join(ctx).join("objects").display()
        );
        let out = Command::new(disdat_venv().join("bin/python"))
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        let (code, stdout, stderr) = outcome(&out);
        assert_eq!(code, 0, "Python's hash check failed: {stderr}");
        stdout.trim().parse().unwrap()
    }

    fn files(&self) {
        std::fs::write(self.path().join("t.csv"), "a,b\n1,2\n").unwrap();
        std::fs::create_dir_all(self.path().join("dd/sub")).unwrap();
        std::fs::write(self.path().join("dd/one.txt"), "x\n").unwrap();
        std::fs::write(self.path().join("dd/sub/two.txt"), "y\n").unwrap();
    }
}

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
