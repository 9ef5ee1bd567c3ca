//! Debian's archive without touching the system's apt: a private sources list (the suites the
//! kernels and library releases come from), private lists and caches under clobber's cache, and
//! `apt-get download` into directories of our own; never /etc/apt or /var/lib/apt.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The Debian suites the private sources list names: those of the kernel series and of the
/// library releases.
pub const SUITES: [&str; 4] = ["bullseye", "bookworm", "trixie", "sid"];

/// The Debian archive keyring of the `debian-archive-keyring` package.
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Private apt state under the cache.
pub struct Apt {
    /// The private state directory.
    pub root: PathBuf,
}

impl Apt {
    /// The private state under the cache, with a sources list naming [`SUITES`].
    pub fn new() -> Result<Apt> {
        let root = crate::vm::kernel::cache_dir()?.join("apt");
        for sub in ["lists/partial", "cache/archives/partial", "state", "debs"] {
            fs::create_dir_all(root.join(sub))
                .with_context(|| format!("creating {}", root.join(sub).display()))?;
        }
        // Debian's keyring where it is installed apart from apt's own trust (e.g. on Ubuntu).
        let keyring = Path::new(KEYRING);
        let options = if keyring.exists() {
            format!("[signed-by={KEYRING}] ")
        } else {
            String::new()
        };
        let mut sources = String::new();
        for suite in SUITES {
            sources.push_str(&format!(
                "deb {options}http://deb.debian.org/debian {suite} main\n"
            ));
        }
        fs::write(root.join("sources.list"), sources)?;
        Ok(Apt { root })
    }

    /// `program` (apt-get or apt-cache) with every directory pointed into the private state.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        let dir = |sub: &str| self.root.join(sub).display().to_string();
        for (key, value) in [
            ("Dir::Etc::sourcelist", dir("sources.list")),
            ("Dir::Etc::sourceparts", "/dev/null".into()),
            ("Dir::State", dir("state")),
            ("Dir::State::Lists", dir("lists")),
            ("Dir::State::status", "/var/lib/dpkg/status".into()),
            ("Dir::Cache", dir("cache")),
            // Root would hand downloads to the _apt user, who cannot write into our cache.
            ("APT::Sandbox::User", "root".into()),
            ("Acquire::Languages", "none".into()),
            (
                "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled",
                "false".into(),
            ),
            (
                "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled",
                "false".into(),
            ),
            (
                "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled",
                "false".into(),
            ),
            (
                "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled",
                "false".into(),
            ),
        ] {
            command.arg("-o").arg(format!("{key}={value}"));
        }
        command
    }

    fn lists_age(&self) -> Option<Duration> {
        fs::read_dir(self.root.join("lists"))
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("_Packages"))
            .filter_map(|e| e.metadata().ok()?.modified().ok())
            .min()
            .and_then(|t| t.elapsed().ok())
    }

    /// Refreshes the package lists when they are missing or older than an hour.
    pub fn update(&self) -> Result<()> {
        if self
            .lists_age()
            .is_some_and(|age| age < Duration::from_secs(3600))
        {
            return Ok(());
        }
        run(self.command("apt-get").args(["-qq", "update"]))?;
        if self.lists_age().is_none() {
            bail!("no package lists came from deb.debian.org: the archive cannot be reached (offline, or a proxy is needed)");
        }
        Ok(())
    }

    /// The newest package whose name matches `pattern`.
    pub fn newest(&self, pattern: &str) -> Result<String> {
        let out = output(
            self.command("apt-cache")
                .args(["search", "--names-only"])
                .arg(pattern),
        )?;
        out.lines()
            .filter_map(|line| line.split_whitespace().next())
            .max_by_key(|name| version_key(name))
            .map(str::to_string)
            .with_context(|| format!("no package matches {pattern} in Debian's archive"))
    }

    /// The newest version of `package` the lists know.
    pub fn version_of(&self, package: &str) -> Result<String> {
        let out = output(self.command("apt-cache").args(["show", package]))?;
        out.lines()
            .filter_map(|l| l.strip_prefix("Version: "))
            .max_by_key(|v| version_key(v))
            .map(str::to_string)
            .with_context(|| format!("apt-cache show {package}: no version"))
    }
}

/// A sort key that orders the digit runs of a name as numbers (`6.1.0-50` after `6.1.0-9`).
pub fn version_key(name: &str) -> Vec<(u64, String)> {
    let mut key = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (text, tail) = rest.split_at(split);
        let digits = tail
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (number, tail) = tail.split_at(digits);
        key.push((number.parse().unwrap_or(0), text.to_string()));
        rest = tail;
    }
    key
}

/// Runs `command`; a failure names the command and quotes its stderr.
pub fn run(command: &mut Command) -> Result<()> {
    output(command).map(drop)
}

/// Runs `command` and returns its stdout; a failure names the command and quotes its stderr.
pub fn output(command: &mut Command) -> Result<String> {
    // The command as a user would type it, without the private state's `-o` options.
    let mut shown = command.get_program().to_string_lossy().into_owned();
    let mut args = command.get_args();
    while let Some(arg) = args.next() {
        if arg == "-o" {
            args.next();
        } else {
            shown.push(' ');
            shown.push_str(&arg.to_string_lossy());
        }
    }
    let out = command
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
