//! Update methods: the system calls that real tools make to put a new version of a file in place,
//! made here through nix so that each one is exactly what its name says.
//!
//! | method           | what it does                                          | like                  |
//! |------------------|-------------------------------------------------------|-----------------------|
//! | `truncate-write` | open(O_WRONLY\|O_TRUNC) the existing file, write      | cp                    |
//! | `unlink-create`  | unlink, open(O_CREAT\|O_EXCL) a new inode, write      | install               |
//! | `temp-rename`    | write a temporary file beside it, fsync, rename(2)    | dpkg, rpm (mv: no fsync) |
//! | `inplace-write`  | open(O_WRONLY), pwrite over the bytes, no truncation  | dd conv=notrunc, rsync --inplace |
//! | `truncate`       | open(O_WRONLY), ftruncate(0)                          | `: > file`, a shrink  |

use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, renameat, OFlag};
use nix::sys::stat::Mode;
use nix::sys::uio::pwrite;
use nix::unistd::{fsync, ftruncate, unlink, write};
use serde::{Deserialize, Serialize};

/// Write size per system call, the one GNU cp uses.
const CHUNK: usize = 128 * 1024;

/// How the target file is updated.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// What cp does: open the existing file `O_WRONLY|O_TRUNC` and write the new bytes into it.
    TruncateWrite,
    /// What install does: unlink the file, then create a new one at the same path.
    UnlinkCreate,
    /// What dpkg and rpm do: write a temporary file beside it, fsync, rename(2) it over (a
    /// write-then-mv does the same without the fsync).
    TempRename,
    /// What dd conv=notrunc and rsync --inplace do: pwrite the new bytes over the old ones.
    InplaceWrite,
    /// Shrink the file to zero bytes under the mapping.
    Truncate,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::TruncateWrite => "truncate-write",
            Method::UnlinkCreate => "unlink-create",
            Method::TempRename => "temp-rename",
            Method::InplaceWrite => "inplace-write",
            Method::Truncate => "truncate",
        })
    }
}

fn open_fd(path: &Path, flags: OFlag, mode: u32) -> Result<OwnedFd, Errno> {
    let fd = open(
        path,
        flags | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn write_all(fd: &OwnedFd, bytes: &[u8]) -> Result<(), Errno> {
    for chunk in bytes.chunks(CHUNK) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let written = write(fd, rest)?;
            rest = &rest[written..];
        }
    }
    Ok(())
}

fn pwrite_all(fd: &OwnedFd, bytes: &[u8]) -> Result<(), Errno> {
    let mut offset = 0;
    while offset < bytes.len() {
        let end = (offset + CHUNK).min(bytes.len());
        offset += pwrite(fd, &bytes[offset..end], offset as i64)?;
    }
    Ok(())
}

/// Writes `new` to a temporary file beside `target`, fsync()s it when `sync` (what dpkg and rpm
/// do; `temp-rename` always does), and renames it over `target`.
pub fn temp_rename(target: &Path, new: &[u8], mode: u32, sync: bool) -> Result<(), Errno> {
    let name = target.file_name().ok_or(Errno::EINVAL)?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(".clobber-tmp");
    let temp = target.with_file_name(temp_name);
    let fd = open_fd(
        &temp,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC,
        mode,
    )?;
    write_all(&fd, new)?;
    if sync {
        fsync(fd.as_raw_fd())?;
    }
    drop(fd);
    renameat(None, &temp, None, target)
}

/// Applies `method` to `target`, putting `new` (the new version's bytes) in place with file mode
/// `mode` where a file is created. Returns the errno of the first refused system call.
pub fn apply(method: Method, target: &Path, new: &[u8], mode: u32) -> Result<(), Errno> {
    match method {
        Method::TruncateWrite => {
            let fd = open_fd(target, OFlag::O_WRONLY | OFlag::O_TRUNC, 0)?;
            write_all(&fd, new)
        }
        Method::UnlinkCreate => {
            unlink(target)?;
            let fd = open_fd(
                target,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                mode,
            )?;
            write_all(&fd, new)
        }
        Method::TempRename => temp_rename(target, new, mode, true),
        Method::InplaceWrite => {
            let fd = open_fd(target, OFlag::O_WRONLY, 0)?;
            pwrite_all(&fd, new)
        }
        Method::Truncate => {
            let fd = open_fd(target, OFlag::O_WRONLY, 0)?;
            ftruncate(&fd, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, b"old old old").unwrap();
        (dir, target)
    }

    #[test]
    fn truncate_write_keeps_the_inode() {
        let (_dir, target) = setup();
        let before = std::fs::metadata(&target).unwrap().ino();
        apply(Method::TruncateWrite, &target, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&target).unwrap().ino(), before);
    }

    #[test]
    fn unlink_create_and_temp_rename_make_a_new_inode() {
        for method in [Method::UnlinkCreate, Method::TempRename] {
            let (_dir, target) = setup();
            let old = std::fs::File::open(&target).unwrap();
            apply(method, &target, b"new", 0o644).unwrap();
            assert_eq!(std::fs::read(&target).unwrap(), b"new");
            let now = std::fs::metadata(&target).unwrap().ino();
            assert_ne!(old.metadata().unwrap().ino(), now, "{method}");
        }
    }

    #[test]
    fn inplace_write_does_not_shrink() {
        let (_dir, target) = setup();
        apply(Method::InplaceWrite, &target, b"NEW", 0o644).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"NEW old old");
    }

    #[test]
    fn truncate_empties_the_file() {
        let (_dir, target) = setup();
        apply(Method::Truncate, &target, b"", 0o644).unwrap();
        assert_eq!(std::fs::metadata(&target).unwrap().len(), 0);
    }

    #[test]
    fn a_missing_target_is_an_errno() {
        let dir = tempfile::tempdir().unwrap();
        let err = apply(Method::TruncateWrite, &dir.path().join("no"), b"x", 0o644);
        assert_eq!(err, Err(Errno::ENOENT));
    }
}
