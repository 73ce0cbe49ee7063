//! The `windowed_stats` example as a binary of this package, so that end-to-end tests can run
//! it as a process (and kill it) through `CARGO_BIN_EXE_stats_job`.

fn main() -> std::process::ExitCode {
    sluice_examples::windowed_stats_cli::main()
}
