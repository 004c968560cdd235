use clap::Parser;

fn main() -> std::process::ExitCode {
    let argv = dsdt_run::long_tag_flags(std::env::args().collect());
    let cli = dsdt_run::Cli::parse_from(argv);
    cli::finish("dsdt-run", dsdt_run::run(cli))
}
