//! `--fs`: run scenarios on a filesystem of a chosen type. tmpfs is mounted directly; ext4, xfs and
//! btrfs are made in a 512 MiB sparse image in the work dir (mkfs from e2fsprogs, xfsprogs,
//! btrfs-progs) and mounted through a loop device; overlay mounts an overlayfs whose layers live on
//! a tmpfs. Everything is mounted in a private mount namespace of the harness, so no mount outlives
//! it or is seen by the rest of the system, even if it is killed; loop devices are attached with
//! autoclear and go away with their mount.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use serde::{Deserialize, Serialize};

use crate::error::BadInput;

/// Size of the filesystem image or tmpfs (xfs needs at least 300 MiB).
const IMAGE_BYTES: u64 = 512 << 20;

/// A filesystem type to run on.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FsKind {
    /// tmpfs, mounted directly.
    Tmpfs,
    /// ext4 on a loop device.
    Ext4,
    /// xfs on a loop device.
    Xfs,
    /// btrfs on a loop device.
    Btrfs,
    /// overlayfs: victims run from the merged directory, files start in the lower layer.
    Overlay,
}

impl fmt::Display for FsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsKind::Tmpfs => "tmpfs",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Overlay => "overlay",
        })
    }
}

/// The layers of an overlay mount.
#[derive(Clone, Debug)]
pub struct Overlay {
    /// Read-only lower layer, where files are placed before each trial.
    pub lower: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    /// The merged directory victims run from.
    pub merged: PathBuf,
}

impl Overlay {
    fn options(&self) -> String {
        format!(
            "lowerdir={},upperdir={},workdir={}",
            self.lower.display(),
            self.upper.display(),
            self.work.display()
        )
    }

    /// Mounts the overlay afresh with an empty upper layer, so that files put into the lower
    /// layer since are what the merged directory shows.
    pub fn remount(&self) -> Result<()> {
        if is_mount_point(&self.merged)? {
            umount2(&self.merged, MntFlags::empty())
                .with_context(|| format!("unmounting {}", self.merged.display()))?;
        }
        for dir in [&self.upper, &self.work] {
            if dir.exists() {
                fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
            }
            fs::create_dir_all(dir)?;
        }
        mount(
            Some("overlay"),
            &self.merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(self.options().as_str()),
        )
        .with_context(|| format!("mounting overlay on {}", self.merged.display()))
    }
}

/// A filesystem mounted for one run; unmounted when dropped.
pub struct Mounted {
    kind: FsKind,
    mounts: Vec<PathBuf>,
    work: PathBuf,
    overlay: Option<Overlay>,
}

fn is_mount_point(path: &Path) -> Result<bool> {
    let path = fs::canonicalize(path)?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|point| Path::new(&point.replace("\\040", " ")) == path))
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let output = Command::new(program).args(args).output().with_context(|| {
        format!("running {program} (is it installed? `make test-deps` installs it)")
    })?;
    if !output.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn mount_tmpfs(at: &Path) -> Result<()> {
    mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        MsFlags::empty(),
        Some(format!("size={IMAGE_BYTES}").as_str()),
    )
    .with_context(|| format!("mounting tmpfs on {}", at.display()))
}

/// Makes a `kind` filesystem (ext4, xfs or btrfs) in a new sparse image file at `image`; needs
/// no root.
pub fn make_image(kind: FsKind, image: &Path) -> Result<()> {
    crate::workfile::create(image, 0o644)
        .and_then(|f| f.set_len(IMAGE_BYTES))
        .with_context(|| format!("creating {}", image.display()))?;
    let image_arg = image.to_string_lossy().into_owned();
    match kind {
        FsKind::Ext4 => run("mkfs.ext4", &["-q", "-F", &image_arg]),
        FsKind::Xfs => run("mkfs.xfs", &["-q", "-f", &image_arg]),
        FsKind::Btrfs => run("mkfs.btrfs", &["-q", "-f", &image_arg]),
        FsKind::Tmpfs | FsKind::Overlay => bail!("--fs {kind} has no image"),
    }
}

impl Mounted {
    /// Mounts a `kind` filesystem inside `workdir`. Needs root (CAP_SYS_ADMIN).
    pub fn new(kind: FsKind, workdir: &Path) -> Result<Mounted> {
        if !nix::unistd::geteuid().is_root() {
            return Err(BadInput(format!(
                "--fs {kind} mounts a filesystem, which needs root: run as root (e.g. sudo), or leave out --fs to use the work dir's own filesystem"
            ))
            .into());
        }
        unshare(CloneFlags::CLONE_NEWNS).context("entering a private mount namespace")?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .context("making the mount namespace private")?;
        let root = workdir.join(format!("fs-{kind}"));
        fs::create_dir_all(&root)?;
        let mut mounted = Mounted {
            kind,
            mounts: Vec::new(),
            work: root.join("work"),
            overlay: None,
        };
        match kind {
            FsKind::Tmpfs => {
                mount_tmpfs(&root)?;
                mounted.mounts.push(root.clone());
            }
            FsKind::Ext4 | FsKind::Xfs | FsKind::Btrfs => {
                let image = workdir.join(format!("{kind}.img"));
                make_image(kind, &image)?;
                let image_arg = image.to_string_lossy().into_owned();
                let target = root.to_string_lossy().into_owned();
                run(
                    "mount",
                    &["-o", "loop", "-t", &kind.to_string(), &image_arg, &target],
                )?;
                mounted.mounts.push(root.clone());
            }
            FsKind::Overlay => {
                mount_tmpfs(&root)?;
                mounted.mounts.push(root.clone());
                let overlay = Overlay {
                    lower: root.join("lower"),
                    upper: root.join("upper"),
                    work: root.join("ovl-work"),
                    merged: root.join("merged"),
                };
                for dir in [&overlay.lower, &overlay.merged] {
                    fs::create_dir_all(dir)?;
                }
                overlay.remount()?;
                mounted.mounts.push(overlay.merged.clone());
                mounted.work = overlay.merged.clone();
                mounted.overlay = Some(overlay);
            }
        }
        fs::create_dir_all(&mounted.work)?;
        Ok(mounted)
    }

    /// Where scenarios run.
    pub fn work(&self) -> &Path {
        &self.work
    }

    /// The overlay's layers, for `--fs overlay`.
    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlay.as_ref()
    }

    /// The filesystem type.
    pub fn kind(&self) -> FsKind {
        self.kind
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        for point in self.mounts.iter().rev() {
            if let Err(err) = umount2(point, MntFlags::empty()) {
                eprintln!("clobber: unmounting {}: {err}", point.display());
            }
        }
    }
}
