//! Reading the files the exporter is given (configuration, tokens, passwords, credentials):
//! bounded, regular files only, with a warning when a secret is readable by every user.

use std::path::Path;

/// The largest configuration, web configuration, token or password file read: far beyond any
/// real one, and no `/dev/zero` can fill the memory.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A regular file of at most `max` bytes, as text: a FIFO or device is refused before it is
/// opened (opening a FIFO would wait for a writer).
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(text)
}

/// Warns when a file that holds a secret can be read by every user of the machine: the secret
/// is then only as safe as the machine's least trusted account.
pub fn warn_if_others_can_read(path: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o004 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "{what} can be read by every user of this machine: chmod o-r (600 is best)"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
}
