//! Access log analytics over files or Kafka topics, on any runner; the command line is
//! described in `sluice_examples::log_analytics_cli`.

fn main() -> std::process::ExitCode {
    sluice_examples::log_analytics_cli::main()
}
