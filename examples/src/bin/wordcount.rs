//! WordCount over files, on any runner; the command line is described in
//! `sluice_examples::wordcount_cli`.

fn main() -> std::process::ExitCode {
    sluice_examples::wordcount_cli::main()
}
