//! clobber: reproduce, measure and explain what overwriting mapped files does to the programs that
//! map them. The library holds every stage (scenario files, update methods, victims, trials,
//! results, reports); the `clobber` binary is a thin CLI over it, and the benchmarks and fuzz
//! targets use it directly.

pub mod apt;
pub mod bench;
pub mod check;
pub mod cli;
pub mod confine;
#[path = "../../victims/common/data.rs"]
pub mod data;
pub mod detect;
pub mod elf;
pub mod embedded;
pub mod environment;
pub mod error;
pub mod evidence;
pub mod filesystem;
pub mod guard;
pub mod input;
pub mod interrupt;
pub mod method;
pub mod outcome;
pub mod package;
pub mod placement;
pub mod release;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod session;
pub mod stats;
pub mod status;
pub mod summary;
pub mod tool;
pub mod trial;
pub mod victim;
pub mod vm;
pub mod workfile;
