use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = service_ctl::Cli::parse();
    cli::finish("service-ctl", service_ctl::run(cli))
}
