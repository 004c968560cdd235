use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = smartstack_sync::Cli::parse();
    cli::finish("smartstack-sync", smartstack_sync::run(cli))
}
