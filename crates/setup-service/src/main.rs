use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = setup_service::Cli::parse();
    soa::cli::finish("setup-service", setup_service::run(cli))
}
