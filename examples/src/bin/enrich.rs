//! Events joined with a reference table that is re-read while the job runs; the command line
//! is described in `sluice_examples::enrich_cli`.

fn main() -> std::process::ExitCode {
    sluice_examples::enrich_cli::main()
}
