//! `clobber matrix`: fetch the kernels the cache lacks, build the initramfs once, boot the
//! kernels in parallel (up to --jobs) with a progress line each, merge every guest's results into
//! DIR/<guest release>.json, and report the kernels that failed with their last console lines.
//! With `--fs ext4|xfs|btrfs` each kernel also gets a fresh disk image of that filesystem and an
//! initramfs that adds its own modules for the disk, and results go to
//! DIR/<guest release>.<fs>.json.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::environment;
use crate::error::Interrupted;
use crate::filesystem::{self, FsKind};
use crate::interrupt;
use crate::release;
use crate::results;
use crate::vm::guest::{self, Config, Event};
use crate::vm::initramfs;
use crate::vm::kernel::{self, Cached, Spec};
use crate::vm::modules;
use crate::vm::qemu::{self, Accel, Boot, End};

/// What `clobber matrix` runs.
pub struct Options {
    /// The kernels, in the order given.
    pub kernels: Vec<Spec>,
    /// What the guests run.
    pub guest: Config,
    /// Directory of results files.
    pub results: PathBuf,
    /// Kernels booted at once.
    pub jobs: usize,
    /// A guest that prints nothing for this long is killed as hung.
    pub silence: Duration,
}

/// A kernel that produced no results, and why.
struct Failure {
    spec: String,
    reason: String,
    console: Vec<String>,
}

/// A kernel that did.
pub struct Success {
    /// The kernel as given.
    pub spec: String,
    /// Its release.
    pub release: String,
    /// From starting qemu to /init.
    pub boot: Duration,
    /// From starting qemu to its end.
    pub total: Duration,
    /// The results file its scenarios went to.
    pub path: PathBuf,
}

/// How a matrix went.
pub struct Summary {
    /// The kernels that gave results, in the order they finished.
    pub successes: Vec<Success>,
    /// How many failed (each was reported on stderr).
    pub failures: usize,
}

impl Summary {
    /// 0 when every kernel gave results, else 1.
    pub fn exit_code(&self) -> ExitCode {
        if self.failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }

    /// One line per kernel that gave results.
    pub fn lines(&self) -> Vec<String> {
        self.successes
            .iter()
            .map(|done| {
                format!(
                    "{} ({}): {:.1}s, boot {:.1}s, results {}",
                    done.spec,
                    done.release,
                    done.total.as_secs_f64(),
                    done.boot.as_secs_f64(),
                    done.path.display()
                )
            })
            .collect()
    }
}

/// Runs the matrix; failures are reported on stderr and counted in the summary.
pub fn run(options: &Options) -> Result<Summary> {
    interrupt::install()?;
    // An unusable results directory is bad input before anything boots.
    drop(results::lock_dir(&options.results)?);
    let mut failures = Vec::new();
    let mut kernels: Vec<(String, Cached)> = Vec::new();
    for spec in &options.kernels {
        if kernels.iter().any(|(s, _)| *s == spec.to_string()) {
            continue;
        }
        if kernel::cached(spec)?.is_none() {
            eprintln!("clobber: fetching {spec}");
        }
        let needs_modules = disk_kind(options).is_some();
        let ensured = kernel::ensure(spec).and_then(|cached| match spec {
            // Cached by a clobber that kept no modules: fetch them.
            Spec::Debian(_) if needs_modules && cached.modules().is_none() => {
                eprintln!("clobber: fetching the modules of {spec}");
                kernel::fetch(spec)
            }
            _ => Ok(cached),
        });
        match ensured {
            Ok(cached) => kernels.push((spec.to_string(), cached)),
            Err(err) => failures.push(Failure {
                spec: spec.to_string(),
                reason: format!("cannot fetch: {err:#}"),
                console: Vec::new(),
            }),
        }
        if interrupt::requested() {
            return Err(Interrupted.into());
        }
    }
    let scratch = tempfile::Builder::new()
        .prefix("clobber-matrix-")
        .tempdir()
        .context("creating a scratch dir")?;
    // The guests' scenarios on real libraries use the host's cache, which the initramfs carries.
    for library in release::LIBRARIES {
        if let Err(err) = release::ensure(library) {
            eprintln!(
                "clobber: the releases of {} are not in the cache ({err:#}): their scenarios will not run in the guests",
                library.package()
            );
        }
    }
    let mut successes = Vec::new();
    if let Some((_, first)) = kernels.first() {
        let initrd = scratch.path().join("initramfs.cpio.gz");
        initramfs::build(&options.guest, &initrd).context("building the initramfs")?;
        let accel = qemu::accel(&first.image(), &initrd, scratch.path());
        eprintln!(
            "clobber: {} kernel(s) under {}, {} at a time",
            kernels.len(),
            accel.virtualization(),
            options.jobs
        );
        let progress = MultiProgress::new();
        let style = ProgressStyle::with_template("{spinner} {prefix:<22} {elapsed:>4} {msg}")
            .expect("valid template");
        let queue: Mutex<VecDeque<(usize, &str, &Cached, ProgressBar)>> = Mutex::new(
            kernels
                .iter()
                .enumerate()
                .map(|(i, (spec, cached))| {
                    let bar = progress.add(ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(format!("{spec} {}", cached.meta.release));
                    bar.set_message("waiting");
                    (i, spec.as_str(), cached, bar)
                })
                .collect(),
        );
        let outcomes = Mutex::new(Vec::new());
        let host = Host {
            initrd: &initrd,
            scratch: scratch.path(),
            accel,
            machine_id: environment::this_machine_id(),
            options,
        };
        std::thread::scope(|scope| {
            for _ in 0..options.jobs.min(kernels.len()) {
                scope.spawn(|| loop {
                    if interrupt::requested() {
                        break; // kernels not yet booted stay unmeasured
                    }
                    let Some((i, spec, cached, bar)) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    bar.enable_steady_tick(Duration::from_millis(250));
                    let outcome = host.boot(i, spec, cached, &bar);
                    match &outcome {
                        Ok(done) => bar.finish_with_message(format!(
                            "done in {:.1}s (boot {:.1}s): {}",
                            done.total.as_secs_f64(),
                            done.boot.as_secs_f64(),
                            done.path.display()
                        )),
                        Err(failure) => {
                            bar.finish_with_message(format!("FAILED: {}", failure.reason))
                        }
                    }
                    outcomes.lock().unwrap().push(outcome);
                });
            }
        });
        for outcome in outcomes.into_inner().unwrap() {
            match outcome {
                Ok(done) => successes.push(done),
                Err(failure) => failures.push(failure),
            }
        }
    }
    for failure in &failures {
        eprintln!("clobber: {} failed: {}", failure.spec, failure.reason);
        eprintln!("  last console lines:");
        if failure.console.is_empty() {
            eprintln!("    (none: the guest printed nothing)");
        }
        for line in &failure.console {
            eprintln!("    {line}");
        }
    }
    if interrupt::requested() {
        return Err(Interrupted.into());
    }
    Ok(Summary {
        successes,
        failures: failures.len(),
    })
}

/// What every kernel's boot shares.
struct Host<'a> {
    initrd: &'a Path,
    scratch: &'a Path,
    accel: Accel,
    machine_id: String,
    options: &'a Options,
}

impl Host<'_> {
    fn boot(
        &self,
        i: usize,
        spec: &str,
        cached: &Cached,
        bar: &ProgressBar,
    ) -> Result<Success, Failure> {
        let fail = |reason: String, console: Vec<String>| Failure {
            spec: spec.to_string(),
            reason,
            console,
        };
        let own_initrd = self.scratch.join(format!("kernel-{i}.initramfs"));
        let disk = self.scratch.join(format!("kernel-{i}.img"));
        let disk = match disk_kind(self.options) {
            Some(kind) => {
                bar.set_message(format!("making the {kind} disk"));
                prepare_disk(kind, cached, self.initrd, &own_initrd, &disk)
                    .map_err(|err| fail(format!("{err:#}"), Vec::new()))?;
                Some(disk.as_path())
            }
            None => None,
        };
        let boot = Boot {
            kernel: &cached.image(),
            initrd: if disk.is_some() {
                &own_initrd
            } else {
                self.initrd
            },
            accel: self.accel,
            params: format!(
                "clobber.virt={} clobber.machine={}",
                self.accel.virtualization(),
                self.machine_id
            ),
            ttys1: self.scratch.join(format!("kernel-{i}.ttyS1")),
            disk,
        };
        let started = Instant::now();
        let mut collector = Collector {
            ttys1: boot.ttys1.clone(),
            results: self.options.results.clone(),
            fs: self.options.guest.filesystem,
            merged: 0,
            kept: None,
            error: None,
        };
        let mut booted = None;
        let mut guest_error = None;
        let mut panic = None;
        let mut scenario = String::new();
        bar.set_message("booting");
        let finished = qemu::run(
            &boot,
            self.options.silence,
            |line| {
                if panic.is_none() && is_panic(line) {
                    panic = Some(line.trim().to_string());
                }
                match guest::parse(line) {
                    Some(Event::Started) => {
                        booted = Some(started.elapsed());
                        bar.set_message("running");
                    }
                    Some(Event::Scenario { index, total, name }) => {
                        // The previous scenario's result is on ttyS1 by now: merge it at once,
                        // so that a killed harness loses nothing that finished.
                        collector.collect();
                        scenario = format!("running {index}/{total} {name}");
                        bar.set_message(scenario.clone());
                    }
                    Some(Event::Trial { index, total }) => {
                        bar.set_message(format!("{scenario}, trial {index}/{total}"))
                    }
                    Some(Event::Done) => {
                        collector.collect();
                        bar.set_message("collecting results");
                    }
                    Some(Event::Error(message)) => guest_error = Some(message),
                    None => {}
                }
            },
            interrupt::requested,
        )
        .map_err(|err| fail(format!("{err:#}"), Vec::new()))?;
        // Every result the guest sent is kept, even when it died later.
        collector.collect();
        if let Some(error) = collector.error {
            return Err(fail(error, Vec::new()));
        }
        let (kept, count) = (collector.kept, collector.merged);
        if !finished.succeeded() {
            let mut reason = match (&finished.end, panic, guest_error) {
                (End::Stopped, _, _) => "interrupted".to_string(),
                (End::Silent(after), _, _) => format!(
                    "hung: no console output for {}s{}",
                    after.as_secs(),
                    if booted.is_some() {
                        ""
                    } else {
                        " (never reached /init)"
                    }
                ),
                (_, Some(line), _) => format!("kernel panic: {line}"),
                (_, None, Some(message)) => format!("guest run failed: {message}"),
                (End::Exited(status), None, None) if booted.is_none() => {
                    format!("did not boot (qemu {status})")
                }
                (End::Exited(status), None, None) => {
                    format!("guest stopped before finishing (qemu {status})")
                }
            };
            if let Some((path, _)) = &kept {
                reason.push_str(&format!(
                    "; the {count} scenario(s) that finished are in {}",
                    path.display()
                ));
            }
            return Err(fail(reason, finished.console));
        }
        let (path, release) =
            kept.ok_or_else(|| fail("the guest sent no results".into(), finished.console))?;
        Ok(Success {
            spec: spec.to_string(),
            release,
            boot: booted.unwrap_or_default(),
            total: started.elapsed(),
            path,
        })
    }
}

/// Merges the results a guest has sent on ttyS1 so far into the results dir, each once.
struct Collector {
    ttys1: PathBuf,
    results: PathBuf,
    /// The `--fs` of the run, which names the results file.
    fs: Option<FsKind>,
    /// Results merged so far.
    merged: usize,
    /// The results file written last, and the guest's kernel release.
    kept: Option<(PathBuf, String)>,
    /// The first merge error.
    error: Option<String>,
}

impl Collector {
    fn collect(&mut self) {
        if self.error.is_some() {
            return;
        }
        let sent = guest::received(&std::fs::read(&self.ttys1).unwrap_or_default());
        for published in sent.into_iter().skip(self.merged) {
            let release = published.environment.kernel_release.clone();
            let path = match self.fs {
                Some(fs) => results::path_for_fs(&self.results, &release, &fs.to_string()),
                None => results::path_for(&self.results, &release),
            };
            match results::merge_into(&path, &published.environment, published.scenario) {
                Ok(path) => {
                    self.kept = Some((path, release));
                    self.merged += 1;
                }
                Err(err) => {
                    self.error = Some(format!("{err:#}"));
                    return;
                }
            }
        }
    }
}

/// The filesystem the guests' disk holds, when the run's `--fs` needs one.
fn disk_kind(options: &Options) -> Option<FsKind> {
    options
        .guest
        .filesystem
        .filter(|k| matches!(k, FsKind::Ext4 | FsKind::Xfs | FsKind::Btrfs))
}

/// Makes a `kind` disk image at `disk` and, at `initrd`, the `shared` initramfs with the modules
/// that `cached` needs to mount it.
fn prepare_disk(
    kind: FsKind,
    cached: &Cached,
    shared: &Path,
    initrd: &Path,
    disk: &Path,
) -> Result<()> {
    let tree = cached.modules().with_context(|| {
        format!(
            "--fs {kind} needs the kernel's modules, and the cache has none for {} (only Debian kernels come with theirs)",
            cached.meta.spec
        )
    })?;
    let needed = modules::needed(&tree, kind)
        .with_context(|| format!("collecting the modules for {kind}"))?;
    initramfs::with_modules(shared, &needed, initrd).context("building the initramfs")?;
    filesystem::make_image(kind, disk)
}

/// Console lines that mean the guest kernel died.
fn is_panic(line: &str) -> bool {
    [
        "Kernel panic - not syncing",
        "Attempted to kill init",
        "end Kernel panic",
    ]
    .iter()
    .any(|p| line.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_are_recognised_on_the_console() {
        assert!(is_panic(
            "[    3.2] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b"
        ));
        assert!(!is_panic("[    0.1] Linux version 6.1.0-50-amd64"));
    }
}
