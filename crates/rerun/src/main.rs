use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = rerun::Cli::parse();
    cli::finish("rerun", rerun::run(cli))
}
