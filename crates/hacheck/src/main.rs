use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = hacheck::Cli::parse();
    cli::finish("hacheck", hacheck::run(cli))
}
