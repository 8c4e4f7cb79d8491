//! Reports of a run: human text (colour on a terminal only), JSON, JUnit XML.

mod human;
mod junit;

pub use human::{Style, human, wire_line};
pub use junit::junit;

use crate::runner::RunReport;

/// The report as pretty-printed JSON: the target, the summary, and for every case its id,
/// level, section, verdict, message, duration and full wire log.
pub fn json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report)
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
}
