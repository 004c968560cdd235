use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = setup_service::Cli::parse();
    cli::finish("setup-service", setup_service::run(cli))
}
