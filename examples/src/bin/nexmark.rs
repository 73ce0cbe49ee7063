//! Nexmark queries over generated events, event files or Kafka topics, on any runner; the
//! command line is described in `sluice_examples::nexmark_cli`.

fn main() -> std::process::ExitCode {
    sluice_examples::nexmark_cli::main()
}
