//! The `ml-operator` binary; everything lives in the library (`src/lib.rs`).

fn main() -> std::process::ExitCode {
    ml_operator::cli::main()
}
