//! Whether a surviving victim is visible to the tools administrators use to find processes that
//! need a restart (needrestart, `lsof +L1`, checkrestart): a mapping of the old file marked
//! "(deleted)" in /proc/PID/maps, or mapped from an inode other than the one the path has now.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::evidence;

/// The inode `path` has now, None when it no longer exists, or an error when it cannot be read.
fn current_inode(path: &Path) -> std::io::Result<Option<u64>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.ino())),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Whether process `pid`, which mapped inode `old_inode` from `target`, shows a restart checker
/// that it runs something the path no longer holds; None when its maps cannot be read (an extra
/// that never aborts a run).
pub fn restart_visible(pid: u32, target: &Path, old_inode: u64) -> Option<bool> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let now = current_inode(target).ok()?;
    let target = target.to_string_lossy();
    let visible = evidence::parse_maps(&maps).iter().any(|mapping| {
        // The old inode under the target's path, or deleted under another name (pip moves a
        // package's directory aside before deleting it), as needrestart sees any deleted mapping.
        let ours = mapping.inode == old_inode
            && (mapping.path.starts_with(&*target) || mapping.path.ends_with("(deleted)"));
        ours && (mapping.path.ends_with("(deleted)") || now != Some(old_inode))
    });
    Some(visible)
}
