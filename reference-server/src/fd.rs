//! File descriptors: the default connection limit, derived from `RLIMIT_NOFILE`.
//!
//! Every TCP connection costs one descriptor. The limit on connections is the soft
//! `RLIMIT_NOFILE` minus [`FD_RESERVE`], so that the server never runs out of descriptors
//! before it runs out of connection slots: past the limit it can still answer (HTTP 503,
//! `/healthz`, the admin API) instead of failing `accept` with `EMFILE`.

use rustix::process::{Resource, getrlimit};

/// Descriptors kept out of the connection limit: the listener, the runtime's epoll and
/// wake-up descriptors, stdio, the data file and its temporary copy, and the
/// [`OVERFLOW_CONNECTIONS`] that are still served past the limit.
pub const FD_RESERVE: usize = 64;

/// Connections accepted past [`Config::limits`](crate::Config)`.max_connections`, out of
/// [`FD_RESERVE`]: they are served `/healthz` and the admin API, a WebSocket upgrade on
/// them gets HTTP 503, and they are not kept alive. Past these, a connection is closed as
/// soon as it is accepted.
pub const OVERFLOW_CONNECTIONS: usize = 32;

/// Used when the soft limit is unlimited or cannot be read.
const FALLBACK_MAX_CONNECTIONS: usize = 20_000;

/// The soft `RLIMIT_NOFILE`, when it is finite and readable.
pub(crate) fn nofile_soft_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// The default `max_connections`: the soft `RLIMIT_NOFILE` minus [`FD_RESERVE`] (at least
/// 1), or 20,000 when there is no finite limit.
pub(crate) fn default_max_connections() -> usize {
    match nofile_soft_limit() {
        Some(soft) => usize::try_from(soft.saturating_sub(FD_RESERVE as u64))
            .unwrap_or(usize::MAX)
            .max(1),
        None => FALLBACK_MAX_CONNECTIONS,
    }
}

/// Whether an `accept` error means the process or the system ran out of descriptors.
pub(crate) fn is_fd_exhaustion(error: &std::io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(error),
        Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_the_reserve() {
        let limit = default_max_connections();
        assert!(limit >= 1);
        if let Some(soft) = nofile_soft_limit() {
            assert!(limit as u64 + FD_RESERVE as u64 <= soft.max(FD_RESERVE as u64 + 1));
        }
    }

    #[test]
    fn emfile_is_recognised() {
        assert!(is_fd_exhaustion(&std::io::Error::from_raw_os_error(
            rustix::io::Errno::MFILE.raw_os_error()
        )));
        assert!(!is_fd_exhaustion(&std::io::Error::other("x")));
    }
}
