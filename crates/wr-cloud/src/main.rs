use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = wr_cloud::Cli::parse();
    cli::finish("wr-cloud", wr_cloud::run(cli))
}
