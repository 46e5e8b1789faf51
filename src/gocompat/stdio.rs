//! Standard output and error as a Go program has them. Go's runtime ends the process by
//! SIGPIPE when a write to file descriptor 1 or 2 finds the reader gone (`calicoctl get … |
//! head`: the shell reports status 141), while other descriptors just see EPIPE. Rust ignores
//! SIGPIPE for the whole process, which keeps sockets safe; these writers add Go's rule for
//! the two standard streams only.

use std::io::{self, Write};

/// A standard stream that dies of SIGPIPE when its reader has gone.
pub struct GoStd<W>(W);

/// Standard output, with Go's broken-pipe rule.
pub fn stdout() -> GoStd<io::Stdout> {
    GoStd(io::stdout())
}

/// Standard error, with Go's broken-pipe rule.
pub fn stderr() -> GoStd<io::Stderr> {
    GoStd(io::stderr())
}

impl<W: Write> Write for GoStd<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(check)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(check)
    }
}

/// Ends the process as Go's runtime does when `e` says the reader of a standard stream has
/// gone; any other error is handed back.
pub fn check(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        die_of_sigpipe();
    }
    e
}

/// Killed by SIGPIPE (its default action restored first), as a Go program is.
fn die_of_sigpipe() -> ! {
    // SAFETY: signal(2) and raise(3) with a valid signal number and the default action; the
    // process ends at the raise.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Unreachable once the signal is delivered; the shell's status for it otherwise.
    std::process::exit(128 + libc::SIGPIPE)
}
