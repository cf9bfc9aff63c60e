//! `ml-operator completion SHELL` and `ml-operator man`: the shell completion scripts and the
//! manual page, generated from the same argument definitions the parser uses, so they cannot
//! drift from the flags.

use clap::CommandFactory;

use super::{Cli, Failure};

/// Writes the completion script for `shell` to stdout.
pub(super) fn print(shell: clap_complete::Shell) -> Result<u8, Failure> {
    let mut script = Vec::new();
    if shell == clap_complete::Shell::Bash {
        // clap_complete's bash script never completes a subcommand's flags when the binary's
        // name has a hyphen (clap-rs/clap#6421): generate it for `ml_operator`, then register
        // the function for the real name. The function keys on the word bash passes as `$1`,
        // so nothing else depends on the name.
        let mut command = Cli::command().name("ml_operator");
        clap_complete::generate(shell, &mut command, "ml_operator", &mut script);
        let text = String::from_utf8_lossy(&script).replace(" ml_operator\n", " ml-operator\n");
        return write_out(text.as_bytes());
    }
    clap_complete::generate(shell, &mut Cli::command(), "ml-operator", &mut script);
    write_out(&script)
}

/// Writes the manual page, with a section for every subcommand, to stdout (roff).
pub(super) fn print_man() -> Result<u8, Failure> {
    let command = Cli::command();
    let mut out = Vec::new();
    let write =
        |out: &mut Vec<u8>, command: clap::Command| clap_mangen::Man::new(command).render(out);
    write(&mut out, command.clone())
        .map_err(|e| Failure::Runtime(format!("cannot render the manual: {e}")))?;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub = sub.clone().name(format!("ml-operator-{}", sub.get_name()));
        write(&mut out, sub)
            .map_err(|e| Failure::Runtime(format!("cannot render the manual: {e}")))?;
    }
    write_out(&out)
}

/// Writes generated text to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn write_out(text: &[u8]) -> Result<u8, Failure> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Failure::Runtime(format!("cannot write to stdout: {e}"))),
    }
}
