//! The `enrich` example as a binary of this package, so that end-to-end tests can run its
//! command line as a process through `CARGO_BIN_EXE_enrich_job`.

fn main() -> std::process::ExitCode {
    sluice_examples::enrich_cli::main()
}
