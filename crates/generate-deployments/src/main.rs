use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = generate_deployments::Cli::parse();
    cli::finish("generate-deployments", generate_deployments::run(cli))
}
