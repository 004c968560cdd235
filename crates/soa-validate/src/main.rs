use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = soa_validate::Cli::parse();
    cli::finish("soa-validate", soa_validate::run(cli))
}
