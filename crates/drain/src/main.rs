use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = drain::Cli::parse();
    cli::finish("drain", drain::run(cli))
}
