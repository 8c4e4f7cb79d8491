//! The human-readable report.

use std::fmt::Write;

use crate::runner::RunReport;
use crate::verdict::{CaseResult, Verdict};
use crate::wire::{WireEntry, WireEvent};

/// Whether to use ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain text (a pipe, a file, `NO_COLOR`).
    Plain,
    /// ANSI colours (a terminal).
    Colour,
}

impl Style {
    /// Colour when `is_terminal` and the `NO_COLOR` environment variable is unset or empty.
    pub fn detect(is_terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        if is_terminal && !no_color {
            Style::Colour
        } else {
            Style::Plain
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        match self {
            Style::Plain => text.to_owned(),
            Style::Colour => format!("\x1b[{code}m{text}\x1b[0m"),
        }
    }

    /// The verdict label, padded and coloured.
    pub fn verdict(self, verdict: &Verdict) -> String {
        let label = format!("{:<10}", verdict.label());
        let code = match verdict {
            Verdict::Pass => "32",
            Verdict::NonStrict => "33",
            Verdict::Fail => "1;31",
            Verdict::Error => "1;35",
            Verdict::Skipped { .. } => "2",
            Verdict::Informational => "36",
        };
        self.paint(code, &label)
    }
}

/// One line of a wire log as the human report prints it.
pub fn wire_line(entry: &WireEntry) -> String {
    let what = match &entry.event {
        WireEvent::Open { url } => format!("open {url}"),
        WireEvent::Sent { text } => format!("-> {text}"),
        WireEvent::Received { text } => format!("<- {text}"),
        WireEvent::ReceivedBinary { bytes } => format!("<- binary frame of {bytes} bytes"),
        WireEvent::Closed {
            code: Some(code),
            reason,
        } => format!("xx closed by the server: {code} {reason}"),
        WireEvent::Closed { code: None, reason } => format!("xx connection ended: {reason}"),
        WireEvent::Quiet { ms } => format!(".. nothing within {ms} ms"),
        WireEvent::ClientClose => "xx client closes (1000)".to_owned(),
        WireEvent::Note { text } => format!("## {text}"),
        WireEvent::Mutation {
            operation,
            pk,
            fields,
        } => {
            if fields.is_null() {
                format!("{operation} pk={pk}")
            } else {
                format!("{operation} pk={pk} {fields}")
            }
        }
    };
    format!("{:>6} ms  {:<4} {what}", entry.at_ms, entry.conn)
}

fn case_line(style: Style, case: &CaseResult) -> String {
    format!(
        "  {} {:<7} {:<6} {:<56} {:>5} ms",
        style.verdict(&case.verdict),
        case.id,
        case.level.as_str(),
        case.slug,
        case.duration_ms
    )
}

/// The report as text: one line per case, the message of every case that did not simply
/// pass, the wire log of every failure, and a summary.
pub fn human(report: &RunReport, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dcrf-conformance: {} cases against {}\n",
        report.cases.len(),
        report.target
    );
    for case in &report.cases {
        let _ = writeln!(out, "{}", case_line(style, case));
        if case.verdict != Verdict::Pass {
            // The level of the check that decided the verdict, when it is not the case's
            // (a MUST checked on the way by a SHOULD case).
            if case.check_level != case.level {
                let _ = writeln!(
                    out,
                    "              {} check: {}",
                    case.check_level, case.message
                );
            } else {
                let _ = writeln!(out, "              {}", case.message);
            }
        }
        if matches!(case.verdict, Verdict::Fail | Verdict::Error) {
            for entry in &case.wire {
                let _ = writeln!(out, "              {}", style.paint("2", &wire_line(entry)));
            }
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} passed, {} non-strict, {} failed, {} errors, {} skipped, {} informational in {:.2} s",
        s.pass,
        s.non_strict,
        s.fail,
        s.error,
        s.skipped,
        s.informational,
        report.duration_ms as f64 / 1000.0
    );
    let verdict = if s.must_failures > 0 {
        let also = if s.harness_errors > 0 {
            format!("; {} case(s) could not be set up", s.harness_errors)
        } else {
            String::new()
        };
        style.paint(
            "1;31",
            &format!(
                "DOES NOT CONFORM: {} MUST check(s) failed{also} (exit 1)",
                s.must_failures
            ),
        )
    } else if s.harness_errors > 0 {
        style.paint(
            "1;35",
            &format!(
                "COULD NOT JUDGE: {} case(s) could not be set up (ERROR; exit 2)",
                s.harness_errors
            ),
        )
    } else {
        style.paint(
            "1;32",
            "CONFORMS: every MUST check passed or was skipped (exit 0)",
        )
    };
    let _ = writeln!(out, "{verdict}");
    out
}
