//! The reference server run in-process, for `dcrf-conformance run` without a URL and for
//! this crate's tests. The cases never reach into it: they see only its endpoints.

use crate::Error;
use crate::target::Target;

pub use dcrf_reference_server::{Config as ServerConfig, Faults};

/// A reference server listening on `127.0.0.1:0` in this process.
pub struct EmbeddedServer {
    handle: dcrf_reference_server::ServerHandle,
}

impl std::fmt::Debug for EmbeddedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedServer")
            .field("ws_url", &self.handle.ws_url())
            .finish()
    }
}

impl EmbeddedServer {
    /// Starts the reference server with `config` (its fault flags included) on a free port.
    pub async fn start(config: ServerConfig) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|error| Error::Embedded(Box::new(error)))?;
        let handle = dcrf_reference_server::serve(listener, config)
            .await
            .map_err(|error| Error::Embedded(Box::new(error)))?;
        Ok(EmbeddedServer { handle })
    }

    /// The observer endpoint, `ws://127.0.0.1:PORT/ws/`.
    pub fn ws_url(&self) -> String {
        self.handle.ws_url().to_string()
    }

    /// The target describing this server: observer, CRUD and multiplexed endpoints and the
    /// admin HTTP API as the mutation hook. With Redis the server has no `POST /admin/steps`,
    /// so the target has no recreate request (case 5.6.3 is skipped).
    pub fn target(&self) -> Target {
        let mut target = Target::interop_layout(self.ws_url());
        if self.handle.redis_state().is_some()
            && let crate::target::MutationConfig::Http(http) = &mut target.mutation
        {
            http.recreate = None;
            http.recreate_body = None;
        }
        target
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}
