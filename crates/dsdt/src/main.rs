use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = dsdt::Cli::parse();
    cli::finish("dsdt", dsdt::run(cli))
}
