use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = dsdt_run::dockerize::Cli::parse();
    cli::finish("dsdt-dockerize", dsdt_run::dockerize::run(cli))
}
