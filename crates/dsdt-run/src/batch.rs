//! The AWSBatch backend: the transform's job definition is found or registered, and the job
//! submitted with the runtime's argv (docs/disdat.md §8). Non-blocking, as Disdat: one JSON
//! record on stdout and exit 0; `--wait` follows the job to its end and pulls the output.

use crate::aws::Client;
use crate::{image_name, job_definition_name, local, refuse, Cli, Host};
use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;

/// What a job definition must have to be reused.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub name: String,
    pub image: String,
    pub vcpus: u32,
    pub memory: u32,
    pub role: Option<String>,
}

/// A number Batch gives as a field of containerProperties or as a resource requirement.
fn resource(props: &Value, field: &str, kind: &str) -> Option<u64> {
    props.get(field).and_then(Value::as_u64).or_else(|| {
        props
            .get("resourceRequirements")?
            .as_array()?
            .iter()
            .find(|r| r.get("type").and_then(Value::as_str) == Some(kind))?
            .get("value")?
            .as_str()?
            .parse()
            .ok()
    })
}

/// The latest ACTIVE revision named `wanted.name` in a DescribeJobDefinitions answer, if it
/// has the same image, vCPUs, memory and role: `name:revision`.
pub fn reusable(answer: &Value, wanted: &Wanted) -> Option<String> {
    let latest = answer
        .get("jobDefinitions")?
        .as_array()?
        .iter()
        .filter(|d| d.get("jobDefinitionName").and_then(Value::as_str) == Some(&wanted.name))
        .filter(|d| {
            d.get("status")
                .and_then(Value::as_str)
                .is_none_or(|s| s == "ACTIVE")
        })
        .max_by_key(|d| d.get("revision").and_then(Value::as_u64).unwrap_or(0))?;
    let props = latest.get("containerProperties")?;
    let same = props.get("image").and_then(Value::as_str) == Some(&wanted.image)
        && resource(props, "vcpus", "VCPU") == Some(u64::from(wanted.vcpus))
        && resource(props, "memory", "MEMORY") == Some(u64::from(wanted.memory))
        && props.get("jobRoleArn").and_then(Value::as_str) == wanted.role.as_deref();
    same.then(|| {
        format!(
            "{}:{}",
            wanted.name,
            latest.get("revision").and_then(Value::as_u64).unwrap_or(0)
        )
    })
}

fn register_body(w: &Wanted) -> Value {
    let mut props = json!({"image": w.image, "vcpus": w.vcpus, "memory": w.memory});
    if let Some(role) = &w.role {
        props["jobRoleArn"] = json!(role);
    }
    json!({"jobDefinitionName": w.name, "type": "container", "containerProperties": props})
}

pub fn run(cli: &Cli, host: &Host, rt: &tokio::runtime::Runtime) -> Result<ExitCode> {
    let d = &host.disdat;
    let cfg = d.config_dir.join("disdat.cfg");
    let Some(queue) = d.setting("run", "aws_batch_queue")? else {
        return refuse(format!(
            "AWSBatch needs a job queue: set [run] aws_batch_queue in {}",
            cfg.display()
        ));
    };
    let job = &host.job;
    let base = image_name(&job.pipe_cls);
    let image = match &cli.image {
        Some(i) => i.clone(),
        None => match crate::registry_image(d, &base, cli.profile.as_deref(), cli.dry_run)? {
            Some(r) => format!("{}:latest", r.name),
            None => {
                return refuse(format!(
                    "AWSBatch runs the image from a registry: set [docker] registry in {} (and push the image with dsdt dockerize --push)",
                    cfg.display()
                ))
            }
        },
    };
    let wanted = Wanted {
        name: d
            .setting("run", "aws_batch_job_definition")?
            .unwrap_or_else(|| job_definition_name(&job.pipe_cls)),
        image,
        vcpus: cli.vcpus,
        memory: cli.memory,
        role: cli.job_role_arn.clone(),
    };
    let client = Client::new(cli.profile.as_deref())?;
    let described = client.batch(
        "describejobdefinitions",
        &json!({"jobDefinitionName": wanted.name, "status": "ACTIVE"}),
    )?;
    let reuse = reusable(&described, &wanted);
    let job_name = format!("{base}-{}", unix_now());
    if cli.dry_run {
        cli::print_json_line(&json!({
            "backend": "AWSBatch",
            "register_job_definition": reuse.is_none().then(|| register_body(&wanted)),
            "job_definition": reuse,
            "job_name": job_name,
            "job_queue": queue,
            "output_bundle_uuid": job.uuid,
            "command": job.argv(false),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let definition = match reuse {
        Some(d) => {
            eprintln!("dsdt-run: re-using job definition {d}");
            d
        }
        None => {
            let answer = client.batch("registerjobdefinition", &register_body(&wanted))?;
            let revision = answer
                .get("revision")
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    anyhow!("AWS Batch RegisterJobDefinition: no revision in {answer}")
                })?;
            let d = format!("{}:{revision}", wanted.name);
            eprintln!("dsdt-run: new job definition {d}");
            d
        }
    };
    // Temporary credentials only without a role: a job with a role has its own.
    let session = match cli.session_token {
        Some(secs) if secs > 0 && wanted.role.is_none() => Some(client.session_token(secs)?),
        _ => None,
    };
    let mut env: Vec<(String, String)> = match &session {
        Some(s) => local::container_env(None, Some(s))
            .into_iter()
            .filter(|(k, _)| k.starts_with("AWS_") && k != "AWS_PROFILE")
            .collect(),
        // The job's own role (or the instance's) gives it credentials; only where to send
        // requests is passed on.
        None => local::container_env(None, None)
            .into_iter()
            .filter(|(k, _)| {
                matches!(
                    k.as_str(),
                    "AWS_DEFAULT_REGION"
                        | "AWS_REGION"
                        | "AWS_ENDPOINT_URL"
                        | "AWS_ENDPOINT_URL_S3"
                )
            })
            .collect(),
    };
    env.push(("DISDAT_CPU_COUNT".into(), cli.vcpus.to_string()));
    let submitted = client.batch(
        "submitjob",
        &json!({
            "jobName": job_name,
            "jobDefinition": definition,
            "jobQueue": queue,
            "containerOverrides": {
                "command": job.argv(false),
                "environment": env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            },
        }),
    )?;
    let job_id = submitted
        .get("jobId")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("AWS Batch SubmitJob: no jobId in {submitted}"))?
        .to_string();
    eprintln!(
        "dsdt-run: job {job_name} (ID {job_id}) with definition {definition} submitted to AWS Batch queue {queue}"
    );
    cli::print_json_line(&json!({
        "job_name": job_name,
        "job_id": job_id,
        "job_definition": definition,
        "job_queue": queue,
        "output_bundle": job.output_bundle,
        "output_bundle_uuid": job.uuid,
    }))?;
    if !cli.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let (status, exit) = follow(&client, &job_id)?;
    if status != "SUCCEEDED" {
        eprintln!(
            "dsdt-run: job {job_id} {status}{}; no output bundle was made",
            exit.map(|c| format!(" (exit {c})")).unwrap_or_default()
        );
        return Ok(ExitCode::from(exit.map_or(1, |c| c.clamp(1, 255) as u8)));
    }
    let hf = rt.block_on(host.pull_output())?;
    eprintln!(
        "dsdt-run: output bundle {} ({}) pulled into context {}",
        hf.human_name, hf.uuid, host.context
    );
    Ok(ExitCode::SUCCESS)
}

/// Polls DescribeJobs until the job ends, saying each new status on stderr: its final status
/// and the container's exit code.
fn follow(client: &Client, job_id: &str) -> Result<(String, Option<i64>)> {
    let mut last = String::new();
    loop {
        let answer = client.batch("describejobs", &json!({"jobs": [job_id]}))?;
        let job = answer
            .get("jobs")
            .and_then(|j| j.get(0))
            .ok_or_else(|| anyhow!("AWS Batch DescribeJobs: job {job_id} is not known"))?;
        let status = job
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("UNKNOWN")
            .to_string();
        if status != last {
            eprintln!("dsdt-run: job {job_id}: {status}");
            last = status.clone();
        }
        if status == "SUCCEEDED" || status == "FAILED" {
            let exit = job
                .get("container")
                .and_then(|c| c.get("exitCode"))
                .and_then(Value::as_i64);
            return Ok((status, exit));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> Wanted {
        Wanted {
            name: "disdat-t-job-definition".into(),
            image: "r/disdat-t:latest".into(),
            vcpus: 2,
            memory: 4000,
            role: None,
        }
    }

    #[test]
    fn the_latest_matching_revision_is_reused() {
        let answer = json!({"jobDefinitions": [
            {"jobDefinitionName": "disdat-t-job-definition", "revision": 1, "status": "ACTIVE",
             "containerProperties": {"image": "r/disdat-t:latest", "vcpus": 2, "memory": 4000}},
            {"jobDefinitionName": "disdat-t-job-definition", "revision": 2, "status": "ACTIVE",
             "containerProperties": {"image": "r/disdat-t:latest", "resourceRequirements": [
                 {"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4000"}]}},
        ]});
        assert_eq!(
            reusable(&answer, &wanted()).as_deref(),
            Some("disdat-t-job-definition:2")
        );
        let more_memory = Wanted {
            memory: 8000,
            ..wanted()
        };
        assert_eq!(reusable(&answer, &more_memory), None);
        let with_role = Wanted {
            role: Some("arn:aws:iam::1:role/r".into()),
            ..wanted()
        };
        assert_eq!(reusable(&answer, &with_role), None);
        assert_eq!(reusable(&json!({"jobDefinitions": []}), &wanted()), None);
    }
}
