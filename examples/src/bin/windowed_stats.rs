//! Windowed statistics over event files or Kafka topics, on any runner; the command line is
//! described in `sluice_examples::windowed_stats_cli`.

fn main() -> std::process::ExitCode {
    sluice_examples::windowed_stats_cli::main()
}
