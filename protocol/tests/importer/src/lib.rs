//! Nothing but tests: see `tests/imports.rs`.
