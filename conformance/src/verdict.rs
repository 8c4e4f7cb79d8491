//! Requirement levels, graded verdicts and the result of one case.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::wire::{SchemaViolation, WireEntry};

/// The requirement level of the SPEC statement a case checks (RFC 2119).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// An absolute requirement: a failure makes the server non-conforming (exit code 1).
    Must,
    /// A recommendation: not meeting it is graded NON-STRICT.
    Should,
    /// Optional behaviour: reported, never failed.
    May,
}

impl Level {
    /// `MUST`, `SHOULD` or `MAY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The graded outcome of a case (Autobahn's OK, NON-STRICT, FAILED, UNIMPLEMENTED,
/// INFORMATIONAL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The server did what the SPEC says.
    Pass,
    /// The server did something the SPEC allows but does not recommend.
    NonStrict,
    /// The server broke the requirement; the message says how and the wire log proves it.
    Fail,
    /// The case could not apply to this target.
    Skipped {
        /// Why (a capability the target lacks, such as a mutation hook).
        reason: String,
    },
    /// The case only reports what the server does.
    Informational,
}

impl Verdict {
    /// Upper-case label as reports print it.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Fail => "FAIL",
            Verdict::Skipped { .. } => "SKIPPED",
            Verdict::Informational => "INFO",
        }
    }
}

/// A conclusion a case reaches: a verdict and the sentence that explains it.
///
/// Case code returns `Err(Finding)` to stop early (usually a failure) and `Ok(Finding)` at
/// the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The verdict.
    pub verdict: Verdict,
    /// What was observed.
    pub message: String,
}

impl Finding {
    /// The requirement holds.
    pub fn pass(message: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Pass,
            message: message.into(),
        }
    }

    /// The requirement is broken.
    pub fn fail(message: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Fail,
            message: message.into(),
        }
    }

    /// Allowed, but not what the SPEC recommends.
    pub fn non_strict(message: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::NonStrict,
            message: message.into(),
        }
    }

    /// Not applicable to this target.
    pub fn skip(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Finding {
            verdict: Verdict::Skipped {
                reason: reason.clone(),
            },
            message: reason,
        }
    }

    /// Reported only.
    pub fn info(message: impl Into<String>) -> Self {
        Finding {
            verdict: Verdict::Informational,
            message: message.into(),
        }
    }
}

/// The result of one case: what it checked, the verdict, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseResult {
    /// Stable id, `section.n` (`5.5.1`).
    pub id: String,
    /// Short kebab-case name.
    pub slug: String,
    /// Requirement level.
    pub level: Level,
    /// The SPEC section it checks.
    pub section: String,
    /// One-line description.
    pub title: String,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// What was observed.
    pub message: String,
    /// Wall time of the case.
    pub duration_ms: u64,
    /// Every frame, close and mutation of the case, in order.
    pub wire: Vec<WireEntry>,
    /// Received frames that broke the schema of their kind.
    pub schema_violations: Vec<SchemaViolation>,
    /// Primary keys of the instances the case created (redacted in transcripts).
    #[serde(skip)]
    pub created_pks: Vec<Value>,
    /// Set when the harness could not judge (the mutation hook failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harness_error: Option<String>,
}

impl CaseResult {
    /// Whether this result makes the server non-conforming: a failed MUST case.
    pub fn is_must_failure(&self) -> bool {
        self.level == Level::Must && self.verdict == Verdict::Fail
    }
}
