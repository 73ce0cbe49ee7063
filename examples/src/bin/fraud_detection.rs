//! Fraud detection over transaction files or a Kafka topic, on any runner; the command line is
//! described in `sluice_examples::fraud_detection_cli`.

fn main() -> std::process::ExitCode {
    sluice_examples::fraud_detection_cli::main()
}
