//! TEMPORARY stand-in until the evidence module lands.

use serde::{Deserialize, Serialize};

/// Evidence.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Evidence {
    /// Signal.
    pub signal: Option<String>,
    /// Line.
    pub kernel_line: Option<String>,
    /// Fault.
    pub fault: Option<String>,
    /// Explanation.
    pub explanation: Option<String>,
}

/// Kernel log.
pub struct KernelLog;

impl KernelLog {
    /// Open.
    pub fn open() -> Result<KernelLog, String> {
        Err("not yet".into())
    }
    /// Read.
    pub fn read_new(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// For pid.
    pub fn lines_for(records: &[String], pid: u32) -> Vec<String> {
        records
            .iter()
            .filter(|r| r.contains(&format!("[{pid}]")))
            .cloned()
            .collect()
    }
}

/// Mapping.
#[derive(Clone, Debug)]
pub struct Mapping {
    /// start
    pub start: u64,
}

/// Parse.
pub fn parse_maps(_text: &str) -> Vec<Mapping> {
    Vec::new()
}

/// For death.
pub fn for_death(
    signal: Option<i32>,
    kernel_lines: &[String],
    _maps: &[Mapping],
    _target_name: &str,
    _old: &[u8],
    _new: &[u8],
) -> Evidence {
    Evidence {
        signal: signal.map(crate::outcome::signal_name),
        kernel_line: kernel_lines.first().cloned(),
        fault: None,
        explanation: None,
    }
}
