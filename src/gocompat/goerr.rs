//! Go's texts for operating-system errors: `syscall.Errno` strings (`no such file or
//! directory`) and `*fs.PathError` (`open /x: permission denied`), which calicoctl prints
//! where Rust's `io::Error` would say `No such file or directory (os error 2)`.

use std::io;

/// The errno's text as Go spells it: the C library's message in lower case, without Rust's
/// ` (os error N)`.
pub fn errno_text(e: &io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code).to_string(),
        None => e.to_string(),
    };
    let text = match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => &text,
    };
    text.to_lowercase()
}

/// A `*fs.PathError`: `OP PATH: ERRNO TEXT`.
pub fn path_error(op: &str, path: &str, e: &io::Error) -> String {
    format!("{op} {path}: {}", errno_text(e))
}

/// `open PATH: …`, what Go's `os.Open`/`os.Stat`-style calls report.
pub fn open_error(path: &str, e: &io::Error) -> String {
    path_error("open", path, e)
}

/// What Go's `os.ReadFile(path)` reports for `e`: opening failed, or reading did (a
/// directory opens and then fails to read).
pub fn read_file_error(path: &str, e: &io::Error) -> String {
    let op = if e.kind() == io::ErrorKind::IsADirectory {
        "read"
    } else {
        "open"
    };
    path_error(op, path, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_spellings() {
        let missing = std::fs::read("/nonexistent/x").unwrap_err();
        assert_eq!(errno_text(&missing), "no such file or directory");
        assert_eq!(
            read_file_error("/nonexistent/x", &missing),
            "open /nonexistent/x: no such file or directory"
        );
        let dir = std::fs::read_to_string("/").unwrap_err();
        assert_eq!(read_file_error("/", &dir), "read /: is a directory");
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(errno_text(&refused), "connection refused");
        assert_eq!(errno_text(&io::Error::other("Custom")), "custom");
    }
}
