//! The command line (clap): `list`, `scenario`, `suite`, `report`, and the hidden `victim` entry point that
//! the harness re-executes itself as.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use clobber_victims::{dlopen_loop, harden, mmap_reader};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::environment;
use crate::interrupt;
use crate::report;
use crate::results::{self, ScenarioResult};
use crate::runner::Runner;
use crate::scenario::{self, Scenario};
use crate::summary;

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
    /// Write REPORT.md and report.html from every results file below a directory.
    Report {
        /// Directory of results files, searched recursively (e.g. one subfolder per CI runner).
        #[arg(long, value_name = "DIR", default_value = "results")]
        results: PathBuf,
        /// Where to write REPORT.md and report.html (default: the results directory).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Run as a victim (used by the harness itself).
    #[command(hide = true)]
    Victim {
        #[command(subcommand)]
        kind: VictimKind,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Trials per scenario.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    trials: u32,
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
}

#[derive(Subcommand)]
enum VictimKind {
    /// dlopen() the library and call it in a loop.
    Dlopen {
        #[arg(long, value_enum)]
        binding: BindingArg,
        lib: PathBuf,
        status: PathBuf,
    },
    /// mmap() the data file and read it in a loop.
    Mmap {
        #[arg(long, value_enum)]
        mapping: MappingArg,
        data: PathBuf,
        status: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum BindingArg {
    Now,
    Lazy,
}

#[derive(Clone, Copy, ValueEnum)]
enum MappingArg {
    Shared,
    Private,
    Denywrite,
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
            run_scenarios(&chosen, &run)
        }
        Command::Suite { run } => {
            let catalogue = scenario::load_catalogue(run.scenarios_dir.as_deref())?;
            run_scenarios(&catalogue, &run)
        }
        Command::Report { results, out } => {
            let out = out.as_deref().unwrap_or(&results);
            for path in report::write(&results, out)? {
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Victim { kind } => victim(kind),
    }
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
                method: s.file.method.to_string(),
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

/// The work directory: one the user named (kept), or a fresh temporary one (removed on drop).
enum Workdir {
    Given(PathBuf),
    Temporary(tempfile::TempDir),
}

impl Workdir {
    fn new(given: Option<&Path>) -> Result<Workdir> {
        match given {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating work dir {}", dir.display()))?;
                Ok(Workdir::Given(dir.to_path_buf()))
            }
            None => Ok(Workdir::Temporary(
                tempfile::Builder::new()
                    .prefix("clobber-")
                    .tempdir()
                    .context("creating a temporary work dir")?,
            )),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Workdir::Given(dir) => dir,
            Workdir::Temporary(dir) => dir.path(),
        }
    }
}

fn run_scenarios(scenarios: &[Scenario], args: &RunArgs) -> Result<ExitCode> {
    interrupt::install()?;
    let workdir = Workdir::new(args.workdir.as_deref())?;
    let environment = environment::collect(workdir.path());
    let results_path = results::path_for(&args.results, &environment.kernel_release);
    if results_path.exists() {
        // Refuse to run at all if the file we would merge into is unreadable or another machine's.
        results::read_own(&results_path, &environment)?;
    }
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    eprintln!(
        "clobber: {} scenario(s) × {} trials on Linux {} ({}, work dir on {}), seed {seed}",
        scenarios.len(),
        args.trials,
        environment.kernel_release,
        environment.arch,
        environment.filesystem
    );
    let bar = ProgressBar::new(scenarios.len() as u64 * u64::from(args.trials));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} trials  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut unexpected = Vec::new();
    for scenario in scenarios {
        bar.set_message(scenario.name.clone());
        let started = Instant::now();
        let mut runner = Runner::new(workdir.path(), seed);
        let trials = runner.run(scenario, args.trials, &mut |_| bar.inc(1))?;
        let result = ScenarioResult::from_trials(
            scenario,
            &trials,
            seed,
            started.elapsed().as_millis() as u64,
        );
        results::merge(&args.results, &environment, result.clone())?;
        if !result.verdict.as_expected {
            unexpected.push(result.name.clone());
        }
        bar.suspend(|| println!("{}", summary::render(&result)));
    }
    bar.finish_and_clear();
    println!("results: {}", results_path.display());
    if !unexpected.is_empty() {
        println!(
            "differs from the scenario files' expectations: {}",
            unexpected.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn victim(kind: VictimKind) -> Result<ExitCode> {
    harden::no_core_dumps();
    match kind {
        VictimKind::Dlopen {
            binding,
            lib,
            status,
        } => {
            let binding = match binding {
                BindingArg::Now => dlopen_loop::Binding::Now,
                BindingArg::Lazy => dlopen_loop::Binding::Lazy,
            };
            dlopen_loop::run(&lib, &status, binding)
                .with_context(|| format!("victim dlopen {}", lib.display()))?;
        }
        VictimKind::Mmap {
            mapping,
            data,
            status,
        } => {
            let mapping = match mapping {
                MappingArg::Shared => mmap_reader::Mapping::Shared,
                MappingArg::Private => mmap_reader::Mapping::Private,
                MappingArg::Denywrite => mmap_reader::Mapping::DenyWrite,
            };
            mmap_reader::run(&data, &status, mapping)
                .with_context(|| format!("victim mmap {}", data.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
