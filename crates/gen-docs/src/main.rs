//! `gen-docs`: renders `man/man1/<tool>.1` and shell completions (`man/completions/`) from each
//! binary's clap definition and its extra man sections (EXIT STATUS, FILES, EXAMPLES).
//! `--check` renders in memory and fails when a committed file differs, so CI catches a flag
//! changed without `make man`.

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser};
use clap_complete::Shell;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "gen-docs",
    version,
    about = "Render man pages and shell completions for the toolkit's binaries"
)]
struct Cli {
    /// Compare with the files in OUT instead of writing them; exit 1 when any is stale.
    #[arg(long)]
    check: bool,
    /// The directory holding man1/ and completions/.
    #[arg(default_value = "man")]
    out: PathBuf,
}

/// Each binary: its clap command and its extra man sections.
fn tools() -> Vec<(clap::Command, &'static [(&'static str, &'static str)])> {
    vec![
        (
            generate_deployments::Cli::command(),
            generate_deployments::MAN_SECTIONS,
        ),
        (soa_validate::Cli::command(), soa_validate::MAN_SECTIONS),
        (local_run::Cli::command(), local_run::MAN_SECTIONS),
        (drain::Cli::command(), drain::MAN_SECTIONS),
        (setup_service::Cli::command(), setup_service::MAN_SECTIONS),
        (
            check_replication::Cli::command(),
            check_replication::MAN_SECTIONS,
        ),
        (rerun::Cli::command(), rerun::MAN_SECTIONS),
        (service_ctl::Cli::command(), service_ctl::MAN_SECTIONS),
        (dsdt::Cli::command(), dsdt::MAN_SECTIONS),
        (dsdt_run::Cli::command(), dsdt_run::MAN_SECTIONS),
        (
            dsdt_run::dockerize::Cli::command(),
            dsdt_run::dockerize::MAN_SECTIONS,
        ),
        (wr_cloud::Cli::command(), wr_cloud::MAN_SECTIONS),
        (hacheck::Cli::command(), hacheck::MAN_SECTIONS),
        (
            smartstack_sync::Cli::command(),
            smartstack_sync::MAN_SECTIONS,
        ),
    ]
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (cmd, sections) in tools() {
        let name = cmd.get_name().to_string();
        files.push((
            cli.out.join("man1").join(format!("{name}.1")),
            render_man(cmd.clone(), sections)?,
        ));
        for (shell, file) in [
            (Shell::Bash, name.clone()),
            (Shell::Zsh, format!("_{name}")),
            (Shell::Fish, format!("{name}.fish")),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut buf);
            files.push((
                cli.out
                    .join("completions")
                    .join(shell.to_string())
                    .join(file),
                buf,
            ));
        }
    }
    let mut stale = Vec::new();
    for (path, content) in &files {
        let current = std::fs::read(path).ok();
        if current.as_deref() == Some(content.as_slice()) {
            continue;
        }
        if cli.check {
            stale.push(path.display().to_string());
        } else {
            std::fs::create_dir_all(path.parent().expect("has a parent"))
                .with_context(|| format!("creating {}", path.display()))?;
            std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        bail!(
            "stale generated docs (run `make man`): {}",
            stale.join(", ")
        );
    }
    Ok(())
}

fn render_man(cmd: clap::Command, sections: &[(&str, &str)]) -> Result<Vec<u8>> {
    // The EXAMPLES section replaces clap's after_help text.
    let cmd = cmd.after_help(None::<&str>).after_long_help(None::<&str>);
    let man = clap_mangen::Man::new(cmd)
        .source("toolkit")
        .manual("User Commands");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    for (title, body) in sections {
        writeln!(out, ".SH \"{title}\"")?;
        render_body(&mut out, title, body)?;
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// Roff-escapes one line of text.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

fn render_body(out: &mut Vec<u8>, title: &str, body: &str) -> Result<()> {
    if *title == *"EXAMPLES" {
        writeln!(out, ".nf")?;
        for line in body.lines().filter(|l| !l.ends_with(':')) {
            writeln!(out, "{}", roff(line.trim_start()))?;
        }
        writeln!(out, ".fi")?;
        return Ok(());
    }
    for line in body.lines() {
        match line.split_once('\t') {
            Some((term, def)) => writeln!(
                out,
                ".TP\n\\fB{}\\fR\n{}",
                roff(term.trim()),
                roff(def.trim())
            )?,
            None => writeln!(out, ".PP\n{}", roff(line.trim()))?,
        }
    }
    Ok(())
}
