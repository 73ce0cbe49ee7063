//! The `wordcount` example as a binary of this package, so that end-to-end tests can run it as
//! a process (and kill it) through `CARGO_BIN_EXE_wordcount_job`.

fn main() -> std::process::ExitCode {
    sluice_examples::wordcount_cli::main()
}
