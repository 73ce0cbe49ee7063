//! The `fraud_detection` example as a binary of this package, so that end-to-end tests can run
//! its command line as a process through `CARGO_BIN_EXE_fraud_job`.

fn main() -> std::process::ExitCode {
    sluice_examples::fraud_detection_cli::main()
}
