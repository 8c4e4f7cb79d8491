//! A conformance harness for servers of the DCRF WebSocket protocol, in the style of
//! Autobahn and h2spec.
//!
//! Each case checks one statement of the SPEC (`dcrf_protocol::spec`) and is named after its
//! section: case `5.5.1` tests section 5.5. A case has a requirement level (MUST, SHOULD,
//! MAY) and ends in a graded verdict: PASS, NON-STRICT (a SHOULD not met), FAIL (a MUST
//! broken), ERROR (the harness could not set up the case: the mutation hook failed), SKIPPED
//! (the target lacks a capability, such as a way to change instances) or INFORMATIONAL.
//!
//! Levels belong to checks, not only to cases: a SHOULD case may check a MUST on the way
//! (5.4.8 checks that the cancelled request_id stops, a MUST, before it grades whether the
//! other one goes on, a SHOULD). Every [`Finding`] carries the level of its check, a FAIL is
//! always a broken MUST, and a failed MUST check fails the run whatever case holds it. A server
//! conforms ([`conforms`], exit code 0) when no MUST check fails and every case could be
//! judged; [`RunReport::exit_code`] is 1 when a MUST check failed and otherwise 2 when a case
//! is ERROR.
//!
//! Every case opens its own connections and, when it needs to change an instance, creates
//! its own through the target's mutation hook, so cases run concurrently. Replies are
//! matched by `request_id`, never by arrival order; waits end at deadlines, never after
//! fixed sleeps: a check that something must arrive waits until the case deadline, whatever
//! its level; only where the SPEC says nothing more may arrive does the harness watch a quiet
//! window. Every received frame is validated against the schema of its kind, and the full
//! wire log is kept with the verdict.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dcrf_conformance::Error> {
//! use dcrf_conformance::{RunOptions, Target, run};
//!
//! let target = Target::interop_layout("ws://127.0.0.1:8000/ws/");
//! let report = run(&target, &RunOptions::default(), |_, _, _| {}).await?;
//! for case in &report.cases {
//!     println!("{} {} {}", case.id, case.verdict.label(), case.message);
//! }
//! std::process::exit(report.exit_code());
//! # }
//! ```
//!
//! [`transcript::collect`] returns the normalised transcripts of the portable cases by case
//! id, the form the snapshot tests compare for the reference server and for real DCRF.

mod case;
pub mod cases;
pub mod data_schema;
pub mod embedded;
mod error;
pub mod fuzz;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod mutation;
pub mod report;
mod runner;
pub mod target;
pub mod transcript;
pub mod transport;
mod verdict;
pub mod wire;

pub use case::{Capability, Case};
pub use embedded::EmbeddedServer;
pub use error::Error;
pub use runner::{RunOptions, RunReport, Summary, conforms, run};
pub use target::{MutationConfig, PkKind, Target};
pub use transport::Transport;
pub use verdict::{CaseResult, Finding, Level, Verdict};
