//! `soa-validate`: checks a yelpsoa-configs tree (or one service of it) and says, per file,
//! whether it is valid and, if not, exactly what is wrong: the file, line, instance, key, value
//! and what was expected. Reads only; writes nothing.

use anyhow::Result;
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  soa-validate -y /nail/etc/services
  soa-validate -s shopfront
  soa-validate --json | jq -r '.files[] | select(.valid | not) | .file'";

/// Validate a yelpsoa-configs tree.
///
/// Checks every file of every service (or of one with -s): YAML syntax; known keys and the type
/// and range of each value; instance names; that every instance's deploy_group is a step of
/// deploy.yaml's pipeline; that scheduled jobs have a schedule or parents (not both), a valid
/// ISO 8601 or cron schedule at intervals of at least 60 seconds, a valid epsilon and time zone,
/// parents that exist and no dependency cycles; that instance names are unique per cluster; and
/// that time variables in job commands parse.
#[derive(Debug, Parser)]
#[command(name = "soa-validate", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Validate only this service.
    #[arg(short = 's', long)]
    pub service: Option<String>,

    /// The soa-configs root (PaaSTA's --yelpsoa-config-root is the same).
    #[arg(short = 'y', long, visible_alias = "yelpsoa-config-root", env = "SOA_DIR", default_value = soa::service::DEFAULT_SOA_DIR, value_name = "SOA_DIR")]
    pub soa_dir: PathBuf,

    /// Print one JSON document instead of ✓/✗ lines.
    #[arg(long)]
    pub json: bool,

    /// Also list what is accepted and not used here: keys of PaaSTA's kubernetes and tron
    /// schemas that do not change how a task runs on these backends, monitoring.yaml's own keys,
    /// per-cluster files that are symbolic links (not checked themselves, as PaaSTA).
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Count warnings (a file type not supported here) as problems.
    #[arg(long)]
    pub strict: bool,
}

pub const MAN_SECTIONS: &[(&str, &str)] = &[
    ("EXIT STATUS", "0\tevery file is valid (warnings alone leave it so, unless --strict)\n1\tat least one file is invalid, or with --strict has a warning\n2\tthe tree could not be read (no such directory or service)"),
    (
        "FILES",
        "<SOA_DIR>/<SERVICE>/service.yaml, deploy.yaml, monitoring.yaml, smartstack.yaml\tthe service's own files\n\
         <SOA_DIR>/<SERVICE>/<marathon|chronos|adhoc|kubernetes>-<CLUSTER>.yaml\tthe instances; keys starting with _ are templates\n\
         <SOA_DIR>/<SERVICE>/tron-<CLUSTER>.yaml\ttron jobs, whose actions run as scheduled jobs <job>.<action>\n\
         <SOA_DIR>/<SERVICE>/<other>-<CLUSTER>.yaml\tother types (eks, flink, …): a warning, not checked",
    ),
    (
        "ENVIRONMENT",
        "SOA_DIR\tthe soa-configs root when no flag gives it (default /nail/etc/services)\n\
         PAASTA_SYSTEM_CONFIG_DIR\tthe system config directory (default /etc/paasta)",
    ),
    ("EXAMPLES", EXAMPLES),
];

pub fn run(cli: Cli) -> Result<ExitCode> {
    let services = cli.service.as_ref().map(|s| vec![s.clone()]);
    // Its errors name the path they concern.
    let mut report = soa::validate::validate(&cli.soa_dir, services.as_deref())?;
    if cli.strict {
        for f in &mut report.files {
            f.valid &= f.warnings.is_empty();
        }
        report.valid = report.files.iter().all(|f| f.valid);
    }
    if !cli.verbose {
        for f in &mut report.files {
            f.notes.clear();
        }
    }
    if cli.json {
        cli::print_json_line(&serde_json::to_value(&report)?)?;
    } else {
        let mut out = std::io::stdout().lock();
        for f in &report.files {
            writeln!(
                out,
                "{} {}",
                if f.valid { "✓" } else { "✗" },
                f.file.display()
            )?;
            for (label, list) in [
                ("", &f.problems),
                ("warning: ", &f.warnings),
                ("note: ", &f.notes),
            ] {
                for p in list {
                    writeln!(out, "    {label}{}{}", location(p), p.message)?;
                }
            }
        }
        let bad = report.files.iter().filter(|f| !f.valid).count();
        eprintln!(
            "{} files checked, {bad} invalid, {} problems, {} warnings",
            report.files.len(),
            report.problem_count(),
            report.warning_count()
        );
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `line L: instance I: key K: ` for what a problem names.
fn location(p: &soa::Problem) -> String {
    let mut loc = String::new();
    if let Some(l) = p.line {
        loc.push_str(&format!("line {l}: "));
    }
    if let Some(i) = &p.instance {
        loc.push_str(&format!("instance {i}: "));
    }
    if let Some(k) = &p.key {
        loc.push_str(&format!("key {k}: "));
    }
    loc
}
