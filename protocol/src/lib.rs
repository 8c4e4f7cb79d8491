//! The WebSocket protocol of djangochannelsrestframework (DCRF), as a specification and types.
//!
//! DCRF serves REST-like actions and live model subscriptions over one WebSocket. A client
//! sends JSON objects naming an `action` and a `request_id`; the server answers each with
//! an envelope of five keys (`errors`, `data`, `action`, `response_status`, `request_id`)
//! and pushes `update` and `delete` events for the instances a socket subscribed to.
//!
//! The normative text is the [`spec`] module (SPEC.md). This crate holds, without any I/O:
//!
//! - [`Request`] and [`Reply`], which carry every frame and print back exactly as parsed,
//!   with [`RequestId`] keeping any JSON value (integers beyond 2^64 included) unchanged;
//! - [`messages`], one type per message kind, the source of the JSON Schemas in `schemas/`;
//! - [`Multiplexed`], the channelsmultiplexer envelope that dcrf-client speaks by default;
//! - [`Correlator`], which tells a reply from an event from an unexpected frame;
//! - [`FrameValidator`], which validates raw frames and names the offending path.
//!
//! ```
//! use dcrf_protocol::{Action, FrameValidator, Reply, Request};
//!
//! let request = Request::new(Action::Retrieve).with_request_id(1550050u64).with_arg("pk", 1);
//! assert_eq!(request.to_frame(), r#"{"action":"retrieve","request_id":1550050,"pk":1}"#);
//!
//! let frame = r#"{"errors":[],"data":{"email":"1@example.com","id":1,"username":"test 1"},"action":"retrieve","response_status":200,"request_id":1550050}"#;
//! let reply = Reply::from_frame(frame).unwrap();
//! assert_eq!(reply.response_status, 200);
//! assert!(FrameValidator::shared().validate_server_frame(frame).is_ok());
//! ```

pub mod action;
#[cfg(feature = "schema")]
pub mod asyncapi;
pub mod correlate;
pub mod error;
pub mod messages;
pub mod multiplex;
pub mod reply;
pub mod request;
pub mod request_id;
#[cfg(feature = "schema")]
pub mod schema;
#[cfg(feature = "validate")]
pub mod validate;

pub use action::{Action, ReplyAction};
pub use correlate::{Classification, Correlator, Subscription};
pub use error::Error;
pub use multiplex::Multiplexed;
pub use reply::Reply;
pub use request::{DEFAULT_LOOKUP_FIELD, Operation, Request};
pub use request_id::{RequestId, RequestIdKind, SubscriptionId};
#[cfg(feature = "schema")]
pub use schema::{Direction, Draft, MessageKind};
#[cfg(feature = "validate")]
pub use validate::{FrameError, FrameValidator, Violation};

#[doc = include_str!("../SPEC.md")]
pub mod spec {}
