use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = check_replication::Cli::parse();
    check_replication::finish(check_replication::run(cli))
}
