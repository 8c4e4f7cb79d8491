//! The JUnit XML report, written by hand with escaping.

use std::fmt::Write;

use super::human::wire_line;
use crate::runner::RunReport;
use crate::verdict::Verdict;

/// Escapes text for XML attributes and character data; drops characters XML 1.0 forbids.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The report as JUnit XML: one `testsuite` per SPEC section, one `testcase` per case.
/// FAIL is a `failure` (its `type` is the level of the failed check, always MUST), ERROR an
/// `error`, SKIPPED a `skipped`; NON-STRICT and INFO pass with a note in
/// `system-out`, where every case's wire log is too.
pub fn junit(report: &RunReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let s = &report.summary;
    let _ = writeln!(
        out,
        "<testsuites name=\"dcrf-conformance\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        s.total,
        s.fail,
        s.error,
        s.skipped,
        report.duration_ms as f64 / 1000.0
    );
    let mut sections: Vec<&str> = report
        .cases
        .iter()
        .map(|case| case.section.as_str())
        .collect();
    sections.dedup();
    for section in sections {
        let cases: Vec<_> = report
            .cases
            .iter()
            .filter(|case| case.section == section)
            .collect();
        let failures = cases
            .iter()
            .filter(|case| case.verdict == Verdict::Fail)
            .count();
        let errors = cases
            .iter()
            .filter(|case| case.verdict == Verdict::Error)
            .count();
        let skipped = cases
            .iter()
            .filter(|case| matches!(case.verdict, Verdict::Skipped { .. }))
            .count();
        let time: u64 = cases.iter().map(|case| case.duration_ms).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"SPEC {}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\">",
            escape(section),
            cases.len(),
            time as f64 / 1000.0
        );
        for case in cases {
            let _ = writeln!(
                out,
                "    <testcase classname=\"dcrf.{}\" name=\"{} {} [{}]\" time=\"{:.3}\">",
                escape(section),
                escape(&case.id),
                escape(&case.slug),
                case.level,
                case.duration_ms as f64 / 1000.0
            );
            match &case.verdict {
                Verdict::Fail => {
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                        escape(&case.message),
                        case.check_level,
                        escape(&case.title)
                    );
                }
                Verdict::Error => {
                    let _ = writeln!(
                        out,
                        "      <error message=\"{}\" type=\"harness\">{}</error>",
                        escape(&case.message),
                        escape(&case.title)
                    );
                }
                Verdict::Skipped { reason } => {
                    let _ = writeln!(out, "      <skipped message=\"{}\"/>", escape(reason));
                }
                Verdict::Pass | Verdict::NonStrict | Verdict::Informational => {}
            }
            let mut log = format!("{}: {}\n", case.verdict.label(), case.message);
            for entry in &case.wire {
                log.push_str(&wire_line(entry));
                log.push('\n');
            }
            let _ = writeln!(out, "      <system-out>{}</system-out>", escape(&log));
            let _ = writeln!(out, "    </testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(escape("x\u{1}y"), "x\\u{0001}y");
        assert_eq!(escape("line\nnext"), "line\nnext");
    }
}
