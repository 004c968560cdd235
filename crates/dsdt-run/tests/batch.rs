//! `dsdt run --backend AWSBatch` against moto's server, whose Batch runs the job's container on
//! the local engine (on the host's network, so it reaches moto's S3 on loopback), with the
//! image pushed by `dsdt dockerize --push` to Debian's docker-registry on loopback and pulled
//! from there. Images and job containers are named disdat-paasta-test-*.

use serde_json::Value;
use testkit::disdat::Home;
use testkit::{busybox_image, docker, json_lines, Moto, Registry};

const BASE: &str = "paasta-test/dsdt-base:latest";
const CLS: &str = "paasta_test_batch.sh";

fn remove_image(name: &str) {
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", name])
        .output();
}

/// Removes the test's images however it ends.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for i in &self.0 {
            remove_image(i);
        }
    }
}

#[test]
fn aws_batch_on_moto_runs_the_pushed_image_with_sts_credentials_and_reuses_its_definition() {
    busybox_image(&[BASE]);
    let registry = Registry::start();
    let moto = Moto::start_with(&[("MOTO_DOCKER_NETWORK_MODE", "host")]);
    moto.bucket("paasta-test-bundles");
    moto.python(
        "import boto3\n\
         role = boto3.client('iam').create_role(RoleName='paasta-test-batch', AssumeRolePolicyDocument='{}')['Role']['Arn']\n\
         b = boto3.client('batch')\n\
         ce = b.create_compute_environment(computeEnvironmentName='paasta-test-ce', type='UNMANAGED', state='ENABLED', serviceRole=role)\n\
         b.create_job_queue(jobQueueName='paasta-test-queue', state='ENABLED', priority=1,\n\
             computeEnvironmentOrder=[{'order': 1, 'computeEnvironment': ce['computeEnvironmentArn']}])\n",
    );
    let home = Home::with_env(moto.env());
    home.context(false, "ex");
    home.ours(&["remote", "dsdt", "s3://paasta-test-bundles/dsdt"]);
    let cfg = home.path().join(".config/disdat/disdat.cfg");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[docker]\nregistry = {}\n[run]\naws_batch_queue = paasta-test-queue\n",
        registry.address()
    ));
    std::fs::write(&cfg, text).unwrap();
    home.write("in.txt", "hello\n");
    home.ours(&["add", "input", "in.txt"]);
    home.ours(&["commit", "input"]);
    // The transform says whether it was given temporary credentials (not the host's keys).
    home.write(
        &format!("pipe/{CLS}"),
        "#!/bin/sh\n\
         tr a-z A-Z < \"$DSDT_INPUT_DIR/in.txt\" > \"$DSDT_OUTPUT_DIR/out.txt\"\n\
         if [ -n \"$AWS_SESSION_TOKEN\" ] && [ \"$AWS_ACCESS_KEY_ID\" != testing ]; then echo temporary; else echo host; fi > \"$DSDT_OUTPUT_DIR/credentials.txt\"\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        home.path().join("pipe").join(CLS),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let image = dsdt_run::image_name(CLS);
    let pushed = format!("{}/{image}:latest", registry.address());
    let _images = Images(vec![format!("{image}:latest"), pushed.clone()]);
    let pipe = home.path().join("pipe").display().to_string();
    let (code, _, err) = home.ours_out(&["dockerize", &pipe, CLS, "--base-image", BASE, "--push"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("pushed {pushed}")), "{err}");

    // The same image runs Local against moto's S3 (the AWS settings are passed on).
    let (code, _, err) = home.tool_out("dsdt-run", &["input", "local_out", CLS]);
    assert_eq!(code, 0, "{err}");

    // Batch must pull it from the registry.
    remove_image(&format!("{image}:latest"));
    remove_image(&pushed);
    let run = |extra: &[&str]| {
        let mut args = vec!["--backend", "AWSBatch", "--use-aws-session-token", "900"];
        args.extend_from_slice(extra);
        args.extend(["input", "out", CLS]);
        home.tool_out("dsdt-run", &args)
    };

    // Queued, not waited for: one JSON record, exit 0; the output appears on the remote.
    let (code, out, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    let record = &json_lines(&out)[0];
    let definition = format!("{image}-job-definition");
    assert_eq!(record["job_definition"], format!("{definition}:1"));
    assert_eq!(record["job_queue"], "paasta-test-queue");
    let job_id = record["job_id"].as_str().unwrap();
    let status = moto.python(&format!(
        "import boto3, time\n\
         b = boto3.client('batch')\n\
         for _ in range(240):\n    \
             s = b.describe_jobs(jobs=['{job_id}'])['jobs'][0]['status']\n    \
             if s in ('SUCCEEDED', 'FAILED'): break\n    \
             time.sleep(0.5)\n\
         print(s)\n"
    ));
    assert_eq!(status.trim(), "SUCCEEDED");
    home.ours(&["pull", "out", "-l"]);
    let cat = &json_lines(&home.ours(&["cat", "out", "--json"]))[0];
    let files: Vec<&str> = cat["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let read = |suffix: &str| {
        std::fs::read_to_string(files.iter().find(|f| f.ends_with(suffix)).unwrap()).unwrap()
    };
    assert_eq!(read("out.txt"), "HELLO\n");
    assert_eq!(
        read("credentials.txt"),
        "temporary\n",
        "STS credentials reached the container"
    );
    assert_eq!(cat["uuid"], record["output_bundle_uuid"]);

    // More memory: a new revision; --wait follows the job and pulls the output.
    let (code, out, err) = run(&["--memory", "2000", "--wait"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json_lines(&out)[0]["job_definition"],
        format!("{definition}:2")
    );
    assert!(err.contains("SUCCEEDED"), "{err}");
    let versions: Vec<Value> = json_lines(&home.ours(&["ls", "out", "--json"]));
    assert_eq!(versions.len(), 2);

    // The same settings again: revision 2 is reused (seen without submitting).
    let (code, out, err) = run(&["--memory", "2000", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let plan = &json_lines(&out)[0];
    assert_eq!(plan["job_definition"], format!("{definition}:2"));
    assert_eq!(plan["register_job_definition"], Value::Null);
    let left = docker(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        "name=^/disdat-paasta-test-batch",
    ]);
    assert_eq!(left, "", "no job container is left behind");
}

#[test]
fn an_ecr_registry_names_the_image_by_its_repository_uri() {
    let moto = Moto::start();
    moto.bucket("paasta-test-ecr");
    let uri = moto.python(
        "import boto3\n\
         r = boto3.client('ecr').create_repository(repositoryName='team/disdat-paasta-test-ecr')\n\
         print(r['repository']['repositoryUri'])\n",
    );
    let uri = uri.trim();
    let home = Home::with_env(moto.env());
    home.context(false, "ex");
    home.ours(&["remote", "dsdt", "s3://paasta-test-ecr/dsdt"]);
    let cfg = home.path().join(".config/disdat/disdat.cfg");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\n[docker]\nregistry = *ECR*\nrepository_prefix = team\n[run]\naws_batch_queue = q\n",
    );
    std::fs::write(&cfg, text).unwrap();
    home.write("in.txt", "hello\n");
    home.ours(&["add", "input", "in.txt"]);
    home.ours(&["commit", "input"]);
    let (code, out, err) = home.tool_out(
        "dsdt-run",
        &[
            "--backend",
            "AWSBatch",
            "--dry-run",
            "input",
            "out",
            "paasta_test_ecr.sh",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let plan = &json_lines(&out)[0];
    assert_eq!(
        plan["register_job_definition"]["containerProperties"]["image"],
        format!("{uri}:latest")
    );
    assert_eq!(
        plan["register_job_definition"]["jobDefinitionName"],
        "disdat-paasta-test-ecr-job-definition"
    );
    // A run that is not a dry run makes the repository when it is missing; here the queue
    // does not exist, which is an error naming the call.
    let (code, _, err) = home.tool_out(
        "dsdt-run",
        &[
            "--backend",
            "AWSBatch",
            "input",
            "out",
            "paasta_test_ecr2.sh",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("AWS Batch submitjob"), "{err}");
    let names = moto.python(
        "import boto3\n\
         c = boto3.client('ecr')\n\
         print(sorted(r['repositoryName'] for r in c.describe_repositories()['repositories']))\n",
    );
    assert_eq!(
        names.trim(),
        "['team/disdat-paasta-test-ecr', 'team/disdat-paasta-test-ecr2']"
    );
}
