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
/// INFORMATIONAL, plus ERROR for a case the harness could not set up).
///
/// A FAIL always means a MUST was broken, whatever the level of the case that found it: a
/// broken SHOULD is NON-STRICT, a MAY is only reported. The level of the check that decided
/// the verdict is [`CaseResult::check_level`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The server did what the SPEC says.
    Pass,
    /// The server did something the SPEC allows but does not recommend (a SHOULD check).
    NonStrict,
    /// The server broke a MUST; the message says how and the wire log proves it.
    Fail,
    /// The harness could not set up the case (the mutation hook failed or timed out, or the
    /// run ended before the case could run): nothing is known about the server from it.
    Error,
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
            Verdict::Error => "ERROR",
            Verdict::Skipped { .. } => "SKIPPED",
            Verdict::Informational => "INFO",
        }
    }

    /// How bad the verdict is, for combining the verdicts of several checks: FAIL, then
    /// ERROR, then NON-STRICT, then the rest.
    pub fn severity(&self) -> u8 {
        match self {
            Verdict::Fail => 4,
            Verdict::Error => 3,
            Verdict::NonStrict => 2,
            Verdict::Pass | Verdict::Informational => 1,
            Verdict::Skipped { .. } => 0,
        }
    }
}

/// A conclusion a check of a case reaches: a verdict, the requirement level of the check, and
/// the sentence that explains it.
///
/// Case code returns `Err(Finding)` to stop early (usually a failure) and `Ok(Finding)` at
/// the end. A case may hold checks of several levels (a SHOULD case that also checks a MUST
/// on the way): each finding carries its own level, so a failed MUST check fails the run
/// whatever the level of the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The verdict.
    pub verdict: Verdict,
    /// The level of the check; None: the level of the case.
    pub level: Option<Level>,
    /// What was observed.
    pub message: String,
}

impl Finding {
    fn new(verdict: Verdict, level: Option<Level>, message: String) -> Self {
        Finding {
            verdict,
            level,
            message,
        }
    }

    /// The case's requirement holds.
    pub fn pass(message: impl Into<String>) -> Self {
        Finding::new(Verdict::Pass, None, message.into())
    }

    /// A MUST is broken (whatever the level of the case that checked it).
    pub fn fail(message: impl Into<String>) -> Self {
        Finding::new(Verdict::Fail, Some(Level::Must), message.into())
    }

    /// A SHOULD is not met: allowed, but not what the SPEC recommends.
    pub fn non_strict(message: impl Into<String>) -> Self {
        Finding::new(Verdict::NonStrict, Some(Level::Should), message.into())
    }

    /// The harness could not set up the case: not the server's fault, and no verdict on it.
    pub fn error(message: impl Into<String>) -> Self {
        Finding::new(Verdict::Error, None, message.into())
    }

    /// Not applicable to this target.
    pub fn skip(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Finding::new(
            Verdict::Skipped {
                reason: reason.clone(),
            },
            None,
            reason,
        )
    }

    /// Reported only.
    pub fn info(message: impl Into<String>) -> Self {
        Finding::new(Verdict::Informational, None, message.into())
    }

    /// The same finding, for a check of `level`.
    pub fn at(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    /// The worse of two findings of one case (FAIL over ERROR over NON-STRICT over the
    /// rest); on a tie, `self`.
    pub fn worst(self, other: Finding) -> Finding {
        if other.verdict.severity() > self.verdict.severity() {
            other
        } else {
            self
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
    /// Requirement level of the case (of the SPEC statement it is named after).
    pub level: Level,
    /// Requirement level of the check that decided the verdict: MUST for every FAIL, SHOULD
    /// for every NON-STRICT, otherwise the case's level.
    pub check_level: Level,
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
    /// Set when the harness could not judge (the mutation hook failed): the verdict is ERROR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harness_error: Option<String>,
}

impl CaseResult {
    /// Whether this result makes the server non-conforming: a failed MUST check, whatever
    /// the level of the case that holds it.
    pub fn is_must_failure(&self) -> bool {
        self.check_level == Level::Must && self.verdict == Verdict::Fail
    }

    /// Whether the harness could not judge this case (verdict ERROR).
    pub fn is_error(&self) -> bool {
        self.verdict == Verdict::Error
    }
}
