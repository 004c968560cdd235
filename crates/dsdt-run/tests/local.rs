//! `dsdt run --backend Local` on the real engine: images made by `dsdt dockerize` on a
//! busybox-static base (a shell transform) and on a Debian python3-minimal base (a Python
//! transform), a remote in a directory. Every image and container here is named
//! disdat-paasta-test-*; bin/test-cleanup.sh removes what a failed test leaves.

use serde_json::Value;
use std::path::PathBuf;
use testkit::disdat::Home;
use testkit::{busybox_image, docker, json_lines, python_image};

const BASE: &str = "paasta-test/dsdt-base:latest";

/// A home with context `ex` bound to a remote directory, and a committed bundle `input`
/// (in.txt: "hello").
struct Setup {
    home: Home,
    remote: tempfile::TempDir,
    /// Images to remove when the test ends.
    images: Vec<String>,
}

impl Setup {
    fn new() -> Setup {
        busybox_image(&[BASE]);
        let home = Home::new();
        let remote = tempfile::tempdir().unwrap();
        home.context(false, "ex");
        home.ours(&[
            "remote",
            "dsdt",
            &format!("file://{}", remote.path().display()),
        ]);
        home.write("in.txt", "hello\n");
        home.ours(&["add", "input", "in.txt"]);
        home.ours(&["commit", "input"]);
        Setup {
            home,
            remote,
            images: Vec::new(),
        }
    }

    /// An executable `name` in the pipeline directory `pipe/`.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        self.home
            .write(&format!("pipe/{name}"), &format!("#!/bin/sh\n{body}\n"));
        let path = self.home.path().join("pipe").join(name);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.home.path().join("pipe")
    }

    fn dockerize(&mut self, pipe: &std::path::Path, cls: &str, base: &str) {
        let (code, _, err) = self.home.ours_out(&[
            "dockerize",
            &pipe.display().to_string(),
            cls,
            "--base-image",
            base,
        ]);
        assert_eq!(code, 0, "dockerize {cls}: {err}");
        self.images
            .push(format!("{}:latest", dsdt_run::image_name(cls)));
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.home.tool_out("dsdt-run", args)
    }

    fn bundles(&self, name: &str) -> Vec<Value> {
        json_lines(&self.home.ours(&["ls", name, "--json"]))
    }

    fn remote_bundles(&self) -> usize {
        std::fs::read_dir(self.remote.path().join("context/dsdt/objects")).map_or(0, |d| d.count())
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for image in &self.images {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f", image])
                .output();
        }
    }
}

/// Containers of this image still on the engine.
fn containers_of(cls: &str) -> String {
    docker(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("name=^/{}-", dsdt_run::image_name(cls)),
    ])
}

fn tag(bundle: &Value, key: &str) -> Option<String> {
    bundle["tags"][key].as_str().map(String::from)
}

#[test]
fn a_shell_transform_in_busybox_makes_a_version_each_run_with_lineage_and_tags() {
    let mut s = Setup::new();
    let cls = "paasta_test_upper.sh";
    let pipe = s.script(
        cls,
        "tr a-z A-Z < \"$DSDT_INPUT_DIR/in.txt\" > \"$DSDT_OUTPUT_DIR/out.txt\"\necho said by the transform",
    );
    s.dockerize(&pipe, cls, BASE);
    let input = &s.bundles("input")[0];

    let (code, out, err) = s.run(&["-ot", "stage:dev", "input", "upper", cls, "--alpha", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("said by the transform"),
        "the transform's stdout streams: {out}"
    );
    let made = s.bundles("upper");
    assert_eq!(made.len(), 1);
    let b = &made[0];
    assert_eq!(b["committed"], true);
    assert_eq!(tag(b, "stage").as_deref(), Some("dev"));
    assert_eq!(tag(b, "__param.alpha").as_deref(), Some("1"));
    let uuid = b["uuid"].as_str().unwrap();
    let lineage = json_lines(&s.home.ours(&["lineage", uuid, "--json"]));
    assert_eq!(lineage[0]["lineage"]["depends_on"][0], input["uuid"]);
    assert_eq!(lineage[1]["uuid"], input["uuid"]);
    let cat = &json_lines(&s.home.ours(&["cat", "upper", "--json"]))[0];
    let path = cat["value"][0].as_str().unwrap();
    assert!(
        path.starts_with(&s.home.path().display().to_string()),
        "pulled with its data: {path}"
    );
    assert_eq!(std::fs::read_to_string(path).unwrap(), "HELLO\n");

    let (code, _, err) = s.run(&["input", "upper", cls, "--alpha", "2"]);
    assert_eq!(code, 0, "{err}");
    let made = s.bundles("upper");
    assert_eq!(made.len(), 2, "a second run makes a second version");
    assert_ne!(made[0]["uuid"], made[1]["uuid"]);
    assert_eq!(tag(&made[0], "__param.alpha").as_deref(), Some("2"));
    assert_eq!(containers_of(cls), "", "no container is left behind");
}

#[test]
fn a_python_transform_runs_in_an_image_with_python3_and_python_disdat_reads_its_output() {
    let mut s = Setup::new();
    let cls = "paasta_test_py.tasks.Upper";
    s.home.write(
        "pipe/paasta_test_py/tasks.py",
        "import os\n\
         class Upper:\n    \
             def pipe_run(self, inputs, output_dir, suffix=''):\n        \
                 with open(inputs[0]) as f, open(os.path.join(output_dir, 'py.txt'), 'w') as g:\n            \
                     g.write(f.read().upper().strip() + suffix)\n",
    );
    let pipe = s.home.path().join("pipe");
    s.dockerize(&pipe, cls, python_image());
    let (code, _, err) = s.run(&["input", "shout", cls, "--suffix", "!"]);
    assert_eq!(code, 0, "{err}");
    let cat = &json_lines(&s.home.ours(&["cat", "shout", "--json"]))[0];
    assert_eq!(
        std::fs::read_to_string(cat["value"][0].as_str().unwrap()).unwrap(),
        "HELLO!"
    );
    // Python Disdat 1.2.0 sees the bundle the runtime made, and its file.
    let listed = s.home.python(&["ls", "-v"]);
    assert!(
        listed.contains("shout") && listed.contains("Upper_"),
        "{listed}"
    );
    let shown = s.home.python(&["cat", "shout"]);
    assert!(shown.contains("py.txt"), "{shown}");
    s.home.python_hash_check("ex");
    assert_eq!(containers_of(cls), "");
}

#[test]
fn a_failing_transform_exits_non_zero_and_leaves_no_bundle_and_no_container() {
    let mut s = Setup::new();
    let cls = "paasta_test_fails.sh";
    let pipe = s.script(cls, "echo about to fail >&2\nexit 3");
    s.dockerize(&pipe, cls, BASE);
    let (code, _, err) = s.run(&["input", "broken", cls]);
    assert_eq!(
        code, 74,
        "the runtime's failure status comes through: {err}"
    );
    assert!(err.contains("about to fail"), "{err}");
    assert!(err.contains("no output bundle"), "{err}");
    assert!(s.bundles("broken").is_empty());
    assert_eq!(s.remote_bundles(), 1, "the input alone is on the remote");
    assert_eq!(containers_of(cls), "");
}

#[test]
fn runs_that_cannot_start_are_refused_with_exit_1() {
    let s = Setup::new();
    // No image for the transform: never a pull.
    let (code, _, err) = s.run(&["input", "out", "paasta_test_none.tasks.Missing"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("disdat-paasta-test-none-tasks:latest is not on this Docker engine")
            && err.contains("dsdt dockerize"),
        "{err}"
    );
    // An uncommitted input.
    s.home.write("draft.txt", "draft\n");
    s.home.ours(&["add", "draft", "draft.txt"]);
    let (code, _, err) = s.run(&["draft", "out", "paasta_test_none.tasks.Missing"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("draft") && err.contains("not committed"),
        "{err}"
    );
    // No such input.
    let (code, _, err) = s.run(&["nothing", "out", "paasta_test_none.tasks.Missing"]);
    assert_eq!(code, 1);
    assert!(err.contains("no bundle nothing"), "{err}");
    // A context without a remote.
    s.home.ours(&["context", "bare"]);
    s.home.ours(&["switch", "bare"]);
    s.home.ours(&["add", "local", "in.txt"]);
    s.home.ours(&["commit", "local"]);
    let (code, _, err) = s.run(&["local", "out", "paasta_test_none.tasks.Missing"]);
    assert_eq!(code, 1);
    assert!(err.contains("bound to no remote"), "{err}");
    // dockerize: a transform not in the pipeline, a base image the engine lacks.
    let pipe = s.script("paasta_test_x.sh", "true");
    let p = pipe.display().to_string();
    let (code, _, err) =
        s.home
            .ours_out(&["dockerize", &p, "paasta_test_nope.sh", "--base-image", BASE]);
    assert_eq!(code, 1);
    assert!(err.contains("paasta_test_nope.sh"), "{err}");
    let (code, _, err) = s.home.ours_out(&[
        "dockerize",
        &p,
        "paasta_test_x.sh",
        "--base-image",
        "paasta-test/no-such-base:1",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("paasta-test/no-such-base:1 is not on this Docker engine"),
        "{err}"
    );
}

#[test]
fn images_made_by_python_dockerize_get_the_later_argv() {
    let s = Setup::new();
    // A stand-in for a disdat-luigi image: its command is dsdt_docker; it records its argv in
    // the remote directory (mounted at the same path) and fails.
    let image = "disdat-paasta-test-luigi:latest";
    let builder = "disdat-paasta-test-luigi-build";
    let record = s.remote.path().join("argv.txt");
    docker(&[
        "run",
        "--name",
        builder,
        BASE,
        "sh",
        "-c",
        &format!(
            "printf 'echo \"$@\" > {}\\nexit 5\\n' > /record.sh",
            record.display()
        ),
    ]);
    docker(&[
        "commit",
        "--change",
        "ENTRYPOINT [\"/bin/sh\", \"/record.sh\"]",
        "--change",
        "CMD [\"dsdt_docker\"]",
        builder,
        image,
    ]);
    docker(&["rm", builder]);
    let (code, _, err) = s.run(&[
        "-ot",
        "k:v",
        "input",
        "out",
        "paasta_test_luigi.Task",
        "--x",
        "1",
    ]);
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", image])
        .output();
    assert_eq!(code, 5, "the image's status comes through: {err}");
    let argv = std::fs::read_to_string(&record).unwrap();
    let words: Vec<&str> = argv.split_whitespace().collect();
    assert_eq!(words[0], "dsdt_docker");
    assert_eq!(words[1], "--output-bundle-uuid");
    assert_eq!(
        words[3..].join(" "),
        format!(
            "--output-bundle out --branch dsdt/ex --workers 2 --remote file://{} --output-tag k:v paasta_test_luigi.Task --x 1",
            s.remote.path().display()
        )
    );
}
