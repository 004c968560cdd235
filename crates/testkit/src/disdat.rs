//! The home directory a Disdat test runs in, and running both tools there: ours (dsdt and the
//! dsdt-* commands beside it) and Python Disdat's.

use crate::{bin_dir, disdat_venv, outcome};
use std::path::Path;
use std::process::{Command, Output};

/// A user's home of its own (HOME, UTC, user `tester`), with extra environment.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub env: Vec<(&'static str, String)>,
}

impl Default for Home {
    fn default() -> Home {
        Home::new()
    }
}

impl Home {
    pub fn new() -> Home {
        Home::with_env(Vec::new())
    }

    pub fn with_env(env: Vec<(&'static str, String)>) -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
            env,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.path())
            .env("HOME", self.path())
            .env("TZ", "UTC")
            .env("USER", "tester")
            .env("LOGNAME", "tester")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        c
    }

    fn run(&self, program: &Path, args: &[&str]) -> Output {
        self.command(program).args(args).output().unwrap()
    }

    /// Ours: exit status, stdout, stderr.
    pub fn ours_out(&self, args: &[&str]) -> (i32, String, String) {
        self.tool_out("dsdt", args)
    }

    /// One of the workspace's binaries: exit status, stdout, stderr.
    pub fn tool_out(&self, name: &str, args: &[&str]) -> (i32, String, String) {
        outcome(&self.run(&bin_dir().join(name), args))
    }

    /// Ours; stdout of a run that must succeed.
    pub fn ours(&self, args: &[&str]) -> String {
        let (code, out, err) = self.ours_out(args);
        assert_eq!(code, 0, "dsdt {args:?}: {err}");
        out
    }

    /// Python Disdat's; stdout (it exits 0 on most failures: the output says).
    pub fn python(&self, args: &[&str]) -> String {
        let (code, out, err) = outcome(&self.run(&disdat_venv().join("bin/dsdt"), args));
        assert_eq!(code, 0, "python dsdt {args:?}: {out}{err}");
        out
    }

    /// init, and context `local` made and current, by Python or by ours.
    pub fn context(&self, python: bool, local: &str) {
        for a in [&["init"][..], &["context", local], &["switch", local]] {
            if python {
                self.python(a);
            } else {
                self.ours(a);
            }
        }
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// t.csv, and a directory dd with one.txt and sub/two.txt.
    pub fn files(&self) {
        self.write("t.csv", "a,b\n1,2\n");
        self.write("dd/one.txt", "x\n");
        self.write("dd/sub/two.txt", "y\n");
    }

    /// Python's hash check on every .pb file of context `ctx`; how many were checked.
    pub fn python_hash_check(&self, ctx: &str) -> usize {
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
}
