//! The command line (clap): `list`, `scenario`, `suite`, `check`, `report`, `bench`, `lib`,
//! `kernel` and `matrix`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::bench::{self, throughput};
use crate::check;
use crate::confine;
use crate::error::BadInput;
use crate::filesystem::FsKind;
use crate::interrupt;
use crate::release::{self, Library};
use crate::report;
use crate::scenario::{self, Target};
use crate::session::{self, Options, Progress, Workdir};
use crate::tool;
use crate::vm::{self, guest, kernel, matrix};

/// Reproduce, measure and explain what overwriting mapped files does to running programs.
#[derive(Parser)]
#[command(name = "clobber", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the scenario catalogue, one line each.
    List {
        /// Print JSON for machines instead.
        #[arg(long)]
        json: bool,
        /// Read scenarios from this directory instead of the built-in catalogue.
        #[arg(long, value_name = "DIR")]
        scenarios_dir: Option<PathBuf>,
    },
    /// Run the named scenarios on this kernel and record the results.
    Scenario {
        /// Scenario names, as `clobber list` shows them (e.g. cp-over-lib).
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run the whole catalogue on this kernel and record the results.
    Suite {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run your own update command against running victims and say whether it is safe.
    ///
    /// `{new}` and `{target}` in ARGS are replaced by the path of the new version and of the file
    /// the victims use. Exit status 0 whatever the verdict; with --fail-unsafe, 3 when victims
    /// crashed, hung or silently ran mixed content.
    Check {
        /// What the victims map.
        #[arg(long, value_enum)]
        target: TargetArg,
        /// Exit with status 3 when the update is unsafe.
        #[arg(long)]
        fail_unsafe: bool,
        #[command(flatten)]
        run: RunArgs,
        /// The update command and its arguments.
        #[arg(last = true, required = true, value_name = "CMD ARGS")]
        command: Vec<String>,
    },
    /// Write REPORT.md, DETAILS.md, report.html and the charts as SVG files from every results
    /// file below a directory.
    ///
    /// REPORT.md has the findings, one table of scenarios × runs and the commands that reproduce
    /// the data; DETAILS.md the per-scenario rates, times to death, evidence and environments;
    /// report.html both, as a heat map with charts. Each chart is also written as
    /// outcomes-<target>.svg and time-to-death-<target>.svg (charts of an earlier report there
    /// that this one does not have are removed).
    Report {
        /// Directory of results files, searched recursively (e.g. one subfolder per CI runner).
        #[arg(long, value_name = "DIR", default_value = "results")]
        results: PathBuf,
        /// Where to write the report (default: the results directory).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Only these scenarios, comma-separated (e.g. cp-over-interp,install-over-interp).
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        scenarios: Vec<String>,
        /// Only the runs whose label contains one of these, comma-separated (e.g. tmpfs, 5.10,
        /// qemu); a label reads `<kernel release> (<virtualization>, <filesystem>, machine <id>)`.
        #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
        runs: Vec<String>,
    },
    /// Measure trials per second next to the floor (spawn, load, exit) and memory over a long run.
    ///
    /// With --kernel, the same again inside each guest kernel under qemu, side by side with the
    /// host. With --matrix, the matrix's throughput instead: the whole catalogue in guest kernels
    /// (default: the four Debian ones) into a throwaway results dir, wall time per kernel and in
    /// all, trials per second, and the time projected for 100 trials a scenario.
    Bench {
        /// Trials per scenario for the rates (and floor iterations), or per scenario in each
        /// kernel with --matrix (default: 300; 50 with --kernel; 100 with --matrix).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        trials: Option<u32>,
        /// Trials of the long run that samples memory (on the host only).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        long: u32,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Where victims and their files live (default: a fresh temporary directory, removed after).
        #[arg(long, value_name = "DIR")]
        workdir: Option<PathBuf>,
        /// Kernels to bench in as well (debian:5.10, debian:6.1, debian:6.12, debian:7, or the
        /// path of a bzImage); with --matrix, the kernels of the matrix.
        #[arg(long = "kernel", value_name = "SPEC")]
        kernels: Vec<String>,
        /// Measure the matrix's throughput instead.
        #[arg(long)]
        matrix: bool,
        /// Kernels booted at once with --matrix (default: the number of CPUs).
        #[arg(long, requires = "matrix", value_parser = clap::value_parser!(u32).range(1..))]
        jobs: Option<u32>,
        /// Results to compare the outcomes with: each place's results file there, where it has
        /// one, shows what earlier runs recorded for the same scenarios on the same kernel.
        #[arg(long, value_name = "DIR", default_value = "results")]
        results: PathBuf,
    },
    /// Fetch kernels into the cache and list it.
    Kernel {
        #[command(subcommand)]
        command: KernelCommand,
    },
    /// Fetch real library releases (glibc, zlib, SQLite; old from Debian bookworm, new from
    /// trixie) into the cache and list it.
    Lib {
        #[command(subcommand)]
        command: LibCommand,
    },
    /// Run scenarios inside other, real kernels under qemu; one results file per kernel.
    ///
    /// Fetches the kernels the cache lacks, boots each with the harness as /init (KVM where it
    /// works, else TCG), and writes DIR/<guest kernel release>.json. Exit status 1 when a kernel
    /// failed to boot, panicked, hung or its run failed; the others still run.
    Matrix {
        /// Kernels: debian:5.10, debian:6.1, debian:6.12, debian:7, or the path of a bzImage.
        #[arg(long = "kernel", required = true, num_args = 1.., value_name = "SPEC")]
        kernels: Vec<String>,
        /// Scenarios to run, comma-separated (default: the whole catalogue).
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        scenarios: Vec<String>,
        /// Trials per scenario in each kernel (default: 40, or the scenario file's `trials` when
        /// lower). Blast-radius scenarios (32 victims a trial) run one trial unless named in
        /// --scenarios.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        trials: Option<u32>,
        /// Directory of results files, one per kernel release.
        #[arg(long, value_name = "DIR", default_value = "results")]
        results: PathBuf,
        /// Kernels booted at once (default: the number of CPUs).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        jobs: Option<u32>,
        /// Seconds a guest may print nothing before it counts as hung.
        #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// Seed of the random delay before each update (default: from the clock; recorded).
        #[arg(long)]
        seed: Option<u64>,
        /// Run on this filesystem in each guest: ext4, xfs and btrfs are made in an image on the
        /// host and attached as a virtio disk, whose drivers come from the kernel's own modules;
        /// results go to DIR/<guest release>.<fs>.json. Default: the guest's tmpfs,
        /// DIR/<guest release>.json. overlay is not supported in guests.
        #[arg(long, value_enum)]
        fs: Option<FsKind>,
    },
}

#[derive(Subcommand)]
enum KernelCommand {
    /// Put kernels in the cache: the newest of a Debian series, or a bzImage you built.
    Fetch {
        /// debian:5.10, debian:6.1, debian:6.12, debian:7, or the path of a bzImage.
        #[arg(required = true, value_name = "SPEC")]
        specs: Vec<String>,
    },
    /// Show the kernels in the cache.
    List,
}

#[derive(Subcommand)]
enum LibCommand {
    /// Download both releases of libraries (all three by default) and keep them in the cache.
    Fetch {
        /// libc, zlib or sqlite.
        #[arg(value_name = "LIBRARY", value_parser = parse_library)]
        libraries: Vec<Library>,
    },
    /// Show the releases in the cache.
    List,
}

fn parse_library(text: &str) -> Result<Library, String> {
    Library::parse(text)
        .ok_or_else(|| format!("unknown library {text:?}; known: libc, zlib, sqlite"))
}

#[derive(Args)]
struct RunArgs {
    /// Trials per scenario, at most a million (default: the scenario file's `trials`, else 100;
    /// 20 for check).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    trials: Option<u32>,
    /// Directory of results files, one per kernel release.
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Where victims and their files live (default: a fresh temporary directory, removed after).
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Read scenarios from this directory instead of the built-in catalogue (scenarios/).
    #[arg(long, value_name = "DIR")]
    scenarios_dir: Option<PathBuf>,
    /// Seed of the random delay before each update (default: from the clock; recorded).
    #[arg(long)]
    seed: Option<u64>,
    /// Run on a fresh filesystem of this type, mounted in the work dir (needs root); results go
    /// to DIR/<release>.<fs>.json. Default: the work dir's own filesystem, DIR/<release>.json.
    #[arg(long, value_enum)]
    fs: Option<FsKind>,
    /// Run update commands even where the kernel cannot confine them to the work dir (no
    /// Landlock); by default their scenarios are not run there.
    #[arg(long)]
    allow_unconfined: bool,
}

impl RunArgs {
    /// What the run is asked to do.
    fn options(&self) -> Options {
        Options {
            trials: self.trials,
            results: self.results.clone(),
            workdir: self.workdir.clone(),
            seed: self.seed,
            fs: self.fs,
            allow_unconfined: self.allow_unconfined,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum TargetArg {
    Lib,
    LinkedLib,
    Exe,
    Interp,
    Data,
}

/// Parses the command line and runs it.
pub fn run() -> Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return Ok(ExitCode::from(if err.use_stderr() { 2 } else { 0 }));
        }
    };
    match cli.command {
        Command::List {
            json,
            scenarios_dir,
        } => list(json, scenarios_dir.as_deref()),
        Command::Scenario { names, run } => {
            let catalogue = scenario::load_catalogue(run.scenarios_dir.as_deref())?;
            let chosen = scenario::select(&catalogue, &names)?;
            session::run_scenarios(&chosen, &run.options(), DEFAULT_TRIALS, None, Progress::Bar)
                .map(|_| ExitCode::SUCCESS)
        }
        Command::Suite { run } => {
            let catalogue = scenario::load_catalogue(run.scenarios_dir.as_deref())?;
            session::run_scenarios(
                &catalogue,
                &run.options(),
                DEFAULT_TRIALS,
                None,
                Progress::Bar,
            )
            .map(|_| ExitCode::SUCCESS)
        }
        Command::Check {
            target,
            fail_unsafe,
            run,
            command,
        } => check_command(target, fail_unsafe, &run, command),
        Command::Report {
            results,
            out,
            scenarios,
            runs,
        } => {
            let out = out.as_deref().unwrap_or(&results);
            let filter = report::Filter { scenarios, runs };
            for path in report::write(&results, out, &filter)? {
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            trials,
            long,
            json,
            workdir,
            kernels,
            matrix,
            jobs,
            results,
        } => {
            interrupt::install()?;
            let kernels = kernels
                .iter()
                .map(|k| kernel::Spec::parse(k))
                .collect::<Result<Vec<_>, _>>()?;
            if matrix {
                bench_matrix(kernels, trials, jobs, json, &results)
            } else {
                let options = BenchOptions {
                    trials,
                    long,
                    json,
                    results,
                };
                bench_command(&options, &kernels, workdir.as_deref())
            }
        }
        Command::Kernel { command } => kernel_command(command),
        Command::Lib { command } => lib_command(command),
        Command::Matrix {
            kernels,
            scenarios,
            trials,
            results,
            jobs,
            timeout,
            seed,
            fs,
        } => {
            if fs == Some(FsKind::Overlay) {
                return Err(
                    BadInput("--fs overlay is not supported by clobber matrix".into()).into(),
                );
            }
            let kernels = kernels
                .iter()
                .map(|k| kernel::Spec::parse(k))
                .collect::<Result<Vec<_>, _>>()?;
            // Unknown names are bad input before anything boots.
            scenario::select(&scenario::load_catalogue(None)?, &scenarios)?;
            matrix::run(&matrix::Options {
                kernels,
                guest: guest::Config {
                    scenarios,
                    trials,
                    default_trials: MATRIX_TRIALS,
                    seed: seed.unwrap_or_else(|| fastrand::u64(..)),
                    filesystem: fs,
                    bench: None,
                },
                results,
                jobs: jobs_or_cpus(jobs),
                silence: std::time::Duration::from_secs(timeout),
            })
            .map(|summary| {
                for line in summary.lines() {
                    println!("{line}");
                }
                summary.exit_code()
            })
        }
    }
}

/// Kernels booted at once: as asked, else the number of CPUs.
fn jobs_or_cpus(jobs: Option<u32>) -> usize {
    jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    )
}

/// What `clobber bench` without --matrix was asked.
struct BenchOptions {
    trials: Option<u32>,
    long: u32,
    json: bool,
    results: PathBuf,
}

/// The bench on this machine and then in each of `kernels`, printed side by side; exit status 1
/// when a guest gave no report (the others are printed all the same).
fn bench_command(
    options: &BenchOptions,
    kernels: &[kernel::Spec],
    workdir: Option<&Path>,
) -> Result<ExitCode> {
    let workdir = Workdir::new(workdir)?;
    let build_dir = workdir.path().join("c-floor-build");
    std::fs::create_dir_all(&build_dir)?;
    let measure = bench::Options {
        trials: options.trials.unwrap_or(if kernels.is_empty() {
            BENCH_TRIALS
        } else {
            BENCH_GUEST_TRIALS
        }),
        long: Some(options.long),
        c_floor: bench::build_c_floor(&build_dir),
    };
    let mut progress = |stage: &str| eprintln!("clobber bench: {stage}");
    let mut reports = vec![bench::run(
        workdir.path(),
        bench::Place::here("host"),
        &measure,
        &mut progress,
    )?];
    let mut failed = false;
    for spec in kernels {
        let scratch = tempfile::Builder::new()
            .prefix("clobber-bench-")
            .tempdir()
            .context("creating a scratch dir")?;
        match vm::bench::measure(spec, &measure, scratch.path(), &mut progress) {
            Ok(report) => reports.push(report),
            Err(err) if err.is::<crate::error::Interrupted>() => return Err(err),
            Err(err) => {
                eprintln!("clobber: bench in {spec}: {err:#}");
                failed = true;
            }
        }
    }
    for report in &mut reports {
        for rate in &mut report.rates {
            rate.recorded = bench::Recorded::find(
                &options.results,
                &report.place.kernel_release,
                &rate.scenario,
                &rate.outcomes,
                u64::from(rate.trials),
            );
        }
    }
    if options.json {
        let comparison = bench::Comparison {
            environments: reports,
        };
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", bench::table::render(&reports));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The matrix's throughput in `kernels` (default: the four Debian ones).
fn bench_matrix(
    kernels: Vec<kernel::Spec>,
    trials: Option<u32>,
    jobs: Option<u32>,
    json: bool,
    results: &Path,
) -> Result<ExitCode> {
    let kernels = if kernels.is_empty() {
        throughput::goal_kernels()
    } else {
        kernels
    };
    let measured = throughput::measure(
        kernels,
        trials.unwrap_or(throughput::GOAL_TRIALS),
        jobs_or_cpus(jobs),
        results,
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&measured)?);
    } else {
        print!("{}", throughput::render(&measured));
    }
    Ok(if measured.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn lib_command(command: LibCommand) -> Result<ExitCode> {
    let show = |pair: &release::Pair| {
        for (release, dir) in [&pair.old, &pair.new] {
            println!(
                "{:<7} {:<13} {:<24} {:<9} {}",
                pair.library.to_string(),
                release.package,
                release.version,
                release.suite,
                dir.display()
            );
        }
    };
    match command {
        LibCommand::Fetch { libraries } => {
            let libraries = if libraries.is_empty() {
                release::LIBRARIES.to_vec()
            } else {
                libraries
            };
            for library in libraries {
                eprintln!("clobber: fetching {}", library.package());
                show(
                    &release::fetch(library)
                        .with_context(|| format!("fetching {}", library.package()))?,
                );
            }
        }
        LibCommand::List => {
            let cached: Vec<_> = release::LIBRARIES
                .into_iter()
                .filter_map(release::cached)
                .collect();
            if cached.is_empty() {
                println!("no library releases in the cache (clobber lib fetch)");
            }
            cached.iter().for_each(show);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn kernel_command(command: KernelCommand) -> Result<ExitCode> {
    match command {
        KernelCommand::Fetch { specs } => {
            let specs = specs
                .iter()
                .map(|s| kernel::Spec::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            for spec in &specs {
                eprintln!("clobber: fetching {spec}");
                let cached = kernel::fetch(spec).with_context(|| format!("fetching {spec}"))?;
                println!(
                    "{spec}: {} ({}) in {}",
                    cached.meta.release,
                    cached.meta.source,
                    cached.dir.display()
                );
            }
        }
        KernelCommand::List => {
            let kernels = kernel::list()?;
            if kernels.is_empty() {
                println!(
                    "no kernels in {}",
                    kernel::cache_dir()?.join("kernels").display()
                );
            }
            for k in kernels {
                println!(
                    "{:<14} {:<24} boots {:<8} {}  ({})",
                    k.meta.spec,
                    k.meta.release,
                    k.meta.boot,
                    k.dir.display(),
                    k.meta.source
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct ListEntry<'a> {
    name: &'a str,
    description: &'a str,
    method: String,
    target: String,
    explanation: &'a str,
    expect: &'a scenario::Expectation,
}

fn list(json: bool, dir: Option<&Path>) -> Result<ExitCode> {
    let catalogue = scenario::load_catalogue(dir)?;
    if json {
        let entries: Vec<ListEntry> = catalogue
            .iter()
            .map(|s| ListEntry {
                name: &s.name,
                description: &s.file.description,
                method: s.update().to_string(),
                target: s.file.target.to_string(),
                explanation: &s.file.explanation,
                expect: &s.file.expect,
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        let width = catalogue.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for s in &catalogue {
            println!("{:<width$}  {}", s.name, s.file.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Trials per scenario when neither the command line nor the scenario file says.
const DEFAULT_TRIALS: u32 = 100;
/// Trials per scenario in each kernel of `clobber matrix` when neither says, chosen from the
/// measured cost: on this 2-core host under TCG (`clobber bench --matrix --trials 20`) the whole
/// catalogue in the four Debian kernels, two at a time, took 7 minutes, and each further trial a
/// scenario adds about 19 s (the slower kernel of each pair), so 40 trials should take about 13
/// minutes (`--trials 40` took 11.6): about as many as stay under the quarter of an hour a matrix
/// may take.
const MATRIX_TRIALS: u32 = 40;
/// Trials per scenario and floor iterations of `clobber bench` on the host alone.
const BENCH_TRIALS: u32 = 300;
/// The same with --kernel, in the host and each guest: under TCG a trial of install-over-lib
/// takes about 133 ms, so 50 trials of everything take about half a minute a guest.
const BENCH_GUEST_TRIALS: u32 = 50;
/// Trials of `clobber check` when the command line does not say.
const CHECK_TRIALS: u32 = 20;

fn check_command(
    target: TargetArg,
    fail_unsafe: bool,
    run: &RunArgs,
    command: Vec<String>,
) -> Result<ExitCode> {
    let target = match target {
        TargetArg::Lib => Target::Lib,
        TargetArg::LinkedLib => Target::LinkedLib,
        TargetArg::Exe => Target::Exe,
        TargetArg::Interp => Target::Interp,
        TargetArg::Data => Target::Data,
    };
    if !command.iter().any(|arg| arg.contains("{target}")) {
        return Err(BadInput(
            "the command never names {target}, the file the victims use; e.g. clobber check --target lib -- cp {new} {target}".into(),
        )
        .into());
    }
    if let (Err(why), false) = (confine::abi(), run.allow_unconfined) {
        return Err(BadInput(format!(
            "the command cannot be confined to the work dir here ({why}); --allow-unconfined runs it anyway"
        ))
        .into());
    }
    if tool::find(&command[0]).is_none() {
        return Err(BadInput(format!(
            "the command `{}` was not found (not on PATH, or not a file); nothing was run",
            command[0]
        ))
        .into());
    }
    let scenario = check::scenario(target, command);
    let results = session::run_scenarios(
        &[scenario],
        &run.options(),
        CHECK_TRIALS,
        Some(check::apply_verdict),
        Progress::Bar,
    )?;
    let unsafe_update = results
        .iter()
        .any(|r| r.not_run.is_none() && !r.verdict.as_expected);
    for result in &results {
        println!("verdict: {}", result.verdict.detail);
    }
    Ok(if fail_unsafe && unsafe_update {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
