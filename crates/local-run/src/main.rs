use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = local_run::Cli::parse();
    cli::finish("local-run", local_run::run(cli))
}
