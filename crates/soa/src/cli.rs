//! What every binary's `main` shares: turning `run`'s result into the exit status, printing
//! errors on stderr, and ending quietly with status 0 when stdout is a closed pipe
//! (`tool | head`).

use std::io::Write;
use std::process::ExitCode;

/// Exit status 2: an error (bad usage, unreadable input, an unreachable peer).
pub const EXIT_ERROR: u8 = 2;

/// Finishes `main`: `Ok` passes the status through; an error is printed as `<tool>: error: …`
/// with its causes, and exits 2, except a broken stdout pipe, which exits 0.
pub fn finish(tool: &str, result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{tool}: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes one JSON document as a line on stdout and flushes it, so that a consumer in a
/// pipeline sees each line as it happens.
pub fn print_json_line(value: &serde_json::Value) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}
