//! Remotes: S3 (moto's server from the Disdat virtualenv, which bin/ensure-disdat.sh installs)
//! shared by dsdt and Python Disdat in both directions, a file:// remote, and transfers cut
//! short (a relay in front of the server is cut mid-transfer): the remote shows no bundle until
//! a repeated push completes it, and a cut pull leaves the local context readable.

use testkit::disdat::Home;
use testkit::{json_lines, Moto, Relay};

#[test]
fn s3_remote_shared_with_python_both_ways() {
    let moto = Moto::start();
    moto.bucket("shared");
    let ours = Home::with_env(moto.env());
    ours.context(false, "mine");
    ours.write("f.txt", "hello\n");
    ours.write("d/a.txt", "a\n");
    ours.write("d/sub/b.txt", "b\n");
    ours.ours(&["add", "-t", "k:v", "fb", "f.txt"]);
    ours.ours(&["add", "db", "d"]);
    ours.ours(&["commit", "fb"]);
    ours.ours(&["commit", "db"]);
    let (code, _, err) = ours.ours_out(&["remote", "team", "s3://missing-bucket/x"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("Unable to bind context team because bucket missing-bucket does not exist."),
        "{err}"
    );
    ours.ours(&["remote", "team", "s3://shared/data"]);
    assert_eq!(
        ours.ours(&["remote", "team", "s3://shared/data"]),
        "Context already bound to remote at s3://shared/data\n"
    );
    let pushed = ours.ours(&["push", "fb"]);
    assert!(
        pushed.starts_with("Pushed committed bundle fb uuid "),
        "{pushed}"
    );
    assert!(
        pushed.ends_with(" to remote s3://shared/data/context\n"),
        "{pushed}"
    );
    assert_eq!(
        ours.ours(&["push"]),
        "Fast Push synchronizing with remote context team@s3://shared/data/context\n\
         Fast push copying 4 objects to S3 . . .\n\
         Fast push completed 4 transfers -- process pool closed and joined.\n"
    );

    // Stored encrypted, as Python Disdat stores what it pushes.
    let encryption = moto.python(
        "import boto3\nc = boto3.client('s3')\nkeys = [o['Key'] for o in c.list_objects_v2(Bucket='shared')['Contents']]\nprint(sorted({c.head_object(Bucket='shared', Key=k).get('ServerSideEncryption') for k in keys}))",
    );
    assert_eq!(encryption.trim(), "['AES256']");

    // Python pulls what we pushed: the same listing, links on S3, then local with -l.
    let theirs = Home::with_env(moto.env());
    theirs.context(true, "yours");
    theirs.python(&["remote", "team", "s3://shared/data"]);
    theirs.python(&["pull"]);
    assert_eq!(
        theirs.python(&["ls", "-v", "-p"]),
        ours.ours(&["ls", "-v", "-p"])
    );
    assert!(theirs
        .python(&["cat", "fb"])
        .starts_with("s3://shared/data/context/team/objects/"));
    theirs.python(&["pull", "-l"]);
    let cat = theirs.python(&["cat", "db"]);
    assert!(cat.contains("/sub/b.txt'"), "{cat}");

    // Python pushes a bundle of its own; ours pulls it, metadata first, then data.
    theirs.write("p.txt", "from python\n");
    theirs.python(&["add", "pyb", "p.txt"]);
    theirs.python(&["commit", "pyb"]);
    theirs.python(&["push"]);
    let pulled = ours.ours(&["pull", "--json"]);
    let record = json_lines(pulled.lines().last().unwrap()).remove(0);
    assert_eq!(record["objects"], 2, "{pulled}");
    assert!(ours
        .ours(&["cat", "pyb"])
        .starts_with("s3://shared/data/context/team/objects/"));
    ours.ours(&["pull", "-l", "pyb"]);
    let path = ours.ours(&["cat", "pyb"]);
    assert_eq!(
        std::fs::read_to_string(path.trim()).unwrap(),
        "from python\n"
    );
    assert_eq!(ours.ours(&["ls", "-v"]), theirs.python(&["ls", "-v"]));

    // In Python's tree, ours commits and pushes a bundle Python added; both sides see it.
    theirs.python(&["add", "-t", "from:python", "pyc", "p.txt"]);
    theirs.ours(&["commit", "pyc"]);
    let pushed = theirs.ours(&["push", "pyc"]);
    assert!(
        pushed.starts_with("Pushed committed bundle pyc uuid "),
        "{pushed}"
    );
    ours.ours(&["pull", "pyc"]);
    assert_eq!(
        ours.ours(&["ls", "-v", "-p"]),
        theirs.python(&["ls", "-v", "-p"])
    );
    assert_eq!(
        ours.ours(&["ls", "-v", "-p"]),
        theirs.ours(&["ls", "-v", "-p"])
    );
}

#[test]
fn a_file_remote_round_trips() {
    let shared = tempfile::tempdir().unwrap();
    let url = format!("file://{}", shared.path().display());
    let a = Home::new();
    a.context(false, "a");
    a.write("x.csv", "1,2\n");
    a.ours(&["add", "x", "x.csv"]);
    a.ours(&["commit", "x"]);
    a.ours(&["remote", "r", &url]);
    a.ours(&["push"]);
    assert!(shared.path().join("context/r/objects").is_dir());
    let b = Home::new();
    b.context(false, "b");
    b.ours(&["remote", "r", &url]);
    b.ours(&["pull", "-l"]);
    let path = b.ours(&["cat", "x"]);
    assert_eq!(std::fs::read_to_string(path.trim()).unwrap(), "1,2\n");
    let (code, _, err) = b.ours_out(&["remote", "r", "file:///no/such/dir"]);
    assert_eq!(code, 2);
    assert!(err.contains("bucket /no/such/dir does not exist"), "{err}");
    let c = Home::new();
    c.context(false, "c");
    let (code, _, err) = c.ours_out(&["push"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("Push cannot execute.  Local context c on remote None not bound."),
        "{err}"
    );
}

/// Many small files, so a transfer takes long enough to be cut in the middle.
fn many_files(h: &Home, n: usize) {
    for i in 0..n {
        h.write(&format!("many/f{i:04}.txt"), &format!("{i}\n"));
    }
}

#[test]
fn a_push_cut_short_shows_no_bundle_until_pushed_again() {
    let moto = Moto::start();
    moto.bucket("cut");
    let relay = Relay::to(moto.port);
    let mut env = moto.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", relay.endpoint()));
    let h = Home::with_env(env);
    h.context(false, "c");
    many_files(&h, 400);
    h.ours(&["add", "many", "many"]);
    h.ours(&["commit", "many"]);
    h.ours(&["remote", "r", "s3://cut/p"]);
    let mut child = h
        .command(std::path::Path::new(env!("CARGO_BIN_EXE_dsdt")))
        .arg("push")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while relay.sent() < 20_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the push sent nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    relay.cut();
    let status = child.wait().unwrap();
    assert!(!status.success(), "a push cut short must fail");
    // Seen directly on the server: no bundle (no hyperframe), whoever looks.
    let direct = Home::with_env(moto.env());
    direct.context(false, "d");
    direct.ours(&["remote", "r", "s3://cut/p"]);
    direct.ours(&["pull"]);
    assert_eq!(direct.ours(&["ls"]), "");
    let py = Home::with_env(moto.env());
    py.context(true, "e");
    py.python(&["remote", "r", "s3://cut/p"]);
    py.python(&["pull"]);
    assert_eq!(py.python(&["ls"]), "");
    // The same push again, with a server that answers, completes it.
    let again = Home {
        dir: h.dir,
        env: moto.env(),
    };
    again.ours(&["push"]);
    direct.ours(&["pull", "-l"]);
    assert_eq!(direct.ours(&["ls"]), "many\n");
    let paths = direct.ours(&["cat", "many"]);
    assert_eq!(paths.matches(".txt'").count(), 400);
    py.python(&["pull"]);
    assert_eq!(py.python(&["ls"]), "many\n");
}

#[test]
fn a_pull_cut_short_leaves_the_context_readable() {
    let moto = Moto::start();
    moto.bucket("pullcut");
    let src = Home::with_env(moto.env());
    src.context(false, "s");
    many_files(&src, 400);
    src.ours(&["add", "many", "many"]);
    src.write("one.txt", "1\n");
    src.ours(&["add", "one", "one.txt"]);
    src.ours(&["commit", "many"]);
    src.ours(&["commit", "one"]);
    src.ours(&["remote", "r", "s3://pullcut/p"]);
    src.ours(&["push"]);

    let relay = Relay::to(moto.port);
    let mut env = moto.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", relay.endpoint()));
    let dst = Home::with_env(env);
    dst.context(false, "d");
    dst.ours(&["remote", "r", "s3://pullcut/p"]);
    let mut child = dst
        .command(std::path::Path::new(env!("CARGO_BIN_EXE_dsdt")))
        .args(["pull", "-l"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while relay.sent() < 40_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pull asked for nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    relay.cut();
    assert!(
        !child.wait().unwrap().success(),
        "a pull cut short must fail"
    );
    // Readable: whatever is listed has all its parts.
    let listed = dst.ours(&["ls"]);
    for name in listed.lines() {
        dst.ours(&["cat", name]);
    }
    let direct = Home {
        dir: dst.dir,
        env: moto.env(),
    };
    direct.ours(&["pull", "-l"]);
    assert_eq!(direct.ours(&["ls"]), "one\nmany\n");
    let paths = direct.ours(&["cat", "many"]);
    assert_eq!(paths.matches(".txt'").count(), 400);
}

#[test]
fn credentials_come_from_the_profile_and_refusals_are_named() {
    let moto = Moto::start();
    moto.bucket("prof");
    // No key in the environment: the profile's file gives it (moto takes any key, but an
    // unsigned request would not get that far: there would be no key to sign with).
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(
        creds.path().join("credentials"),
        "[default]\naws_access_key_id = nope\n\n[team]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    std::fs::write(
        creds.path().join("config"),
        "[profile team]\nregion = us-east-1\n",
    )
    .unwrap();
    let env = vec![
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            creds.path().join("credentials").display().to_string(),
        ),
        (
            "AWS_CONFIG_FILE",
            creds.path().join("config").display().to_string(),
        ),
        ("AWS_PROFILE", "team".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    let h = Home::with_env(env);
    h.context(false, "c");
    h.write("f.txt", "x\n");
    h.ours(&["add", "f", "f.txt"]);
    h.ours(&["remote", "r", "s3://prof/p"]);
    // An uncommitted bundle is not pushed.
    let (code, _, err) = h.ours_out(&["push", "f"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("Push unable to find committed bundle name [f] uuid [None]"),
        "{err}"
    );
    h.ours(&["commit", "f"]);
    h.ours(&["push", "f"]);
    // A key on the remote that would leave its bundle's directory is refused.
    let listed = h.ours(&["ls", "--json"]);
    let uuid = json_lines(&listed)[0]["uuid"].as_str().unwrap().to_string();
    moto.python(&format!(
                "import boto3; boto3.client('s3').put_object(Bucket='prof', Key='p/context/r/objects/{uuid}/../../../escape.txt', Body=b'x')"
            ));
    let other = Home::with_env(moto.env());
    other.context(false, "o");
    other.ours(&["remote", "r", "s3://prof/p"]);
    let (code, _, err) = other.ours_out(&["pull", "-l"]);
    assert_eq!(code, 2, "{err}");
    assert!(!other.path().join(".disdat/context/escape.txt").exists());
    assert!(!other.path().join(".disdat/escape.txt").exists());
    // A server that is not there: an error naming the remote, within seconds.
    let mut gone = moto.env();
    gone.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    gone.push(("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}")));
    let away = Home {
        dir: other.dir,
        env: gone,
    };
    let started = std::time::Instant::now();
    let (code, _, err) = away.ours_out(&["pull"]);
    assert_eq!(code, 2);
    assert!(err.contains("s3://prof/p/context/r/objects"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
