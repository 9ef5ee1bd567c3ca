//! Files the harness makes in its private work directory: each one on a new inode (a file of the
//! same name is unlinked first, never opened), created with O_EXCL and O_NOFOLLOW, so that the
//! harness never writes through a name it did not make itself, let alone a symlink.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Creates `path` afresh with `mode` (umask aside), open for reading and writing.
pub fn create(path: &Path, mode: u32) -> io::Result<File> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Puts `bytes` at `path` on a new inode with exactly `mode`, closed before anything executes
/// it.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = create(path, mode).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_in_the_way_is_replaced_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, b"precious").unwrap();
        let inside = dir.path().join("status-0");
        std::os::unix::fs::symlink(&outside, &inside).unwrap();
        write(&inside, b"mine", 0o644).unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"precious");
        assert_eq!(fs::read(&inside).unwrap(), b"mine");
        assert!(!fs::symlink_metadata(&inside).unwrap().is_symlink());
    }
}
