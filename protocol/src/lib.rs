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
//! - [`ServerFrame`], which reads a reply or an event into the app's own type;
//! - [`messages`], one type per message kind, the source of the JSON Schemas in `schemas/`;
//! - [`Multiplexed`], the channelsmultiplexer envelope that dcrf-client speaks by default;
//! - [`Correlator`], which tells a reply from an event from an unexpected frame;
//! - with the `validate` feature, `FrameValidator`, which validates raw frames and names the
//!   offending path.
//!
//! # Reading replies and events into your own types
//!
//! ```
//! use dcrf_protocol::{Action, Body, Request, ServerFrame};
//! use serde::Deserialize;
//!
//! /// The app's model, as its serializer outputs it.
//! #[derive(Debug, Deserialize)]
//! struct Product {
//!     id: String,
//!     name: String,
//!     price: String,
//! }
//!
//! // The request a client sends.
//! let request = Request::new(Action::SubscribeInstance)
//!     .with_request_id(1550050u64)
//!     .with_arg("pk", "5b0e6a2c");
//! assert_eq!(
//!     request.to_frame(),
//!     r#"{"action":"subscribe_instance","request_id":1550050,"pk":"5b0e6a2c"}"#
//! );
//!
//! // A reply: the product, typed.
//! let reply = r#"{"errors": [], "data": {"id": "5b0e6a2c", "name": "Tea", "price": "4.50"}, "action": "retrieve", "response_status": 200, "request_id": 7}"#;
//! let frame = ServerFrame::<Product>::from_frame(reply)?;
//! assert_eq!(frame.instance().map(|p| p.price.as_str()), Some("4.50"));
//!
//! // An event of the subscription: the same type, the subscribing request's request_id.
//! let event = r#"{"errors": [], "data": {"id": "5b0e6a2c", "name": "Tea", "price": "3.90"}, "action": "update", "response_status": 200, "request_id": 1550050}"#;
//! let frame = ServerFrame::<Product>::from_frame(event)?;
//! assert_eq!(frame.action(), Some(&Action::Update));
//! assert_eq!(frame.request_id.raw(), "1550050");
//! match frame.body {
//!     Body::Instance(product) => assert_eq!((product.name.as_str(), product.price.as_str()), ("Tea", "3.90")),
//!     other => panic!("{other:?}"),
//! }
//!
//! // A failure: the errors, never a `Product`.
//! let not_found = r#"{"errors": ["Not found"], "data": null, "action": "retrieve", "response_status": 404, "request_id": 8}"#;
//! let frame = ServerFrame::<Product>::from_frame(not_found)?;
//! let errors = frame.errors().expect("a 404 carries errors");
//! assert_eq!(errors.messages().collect::<Vec<_>>(), ["Not found"]);
//! # Ok::<(), dcrf_protocol::Error>(())
//! ```
//!
//! Whether a frame answers a request or is an event is a matter of the requests the socket
//! sent: [`Correlator`] keeps them and classifies each frame.
//!
//! # Features
//!
//! The default features are none: the types need only `serde` and `serde_json` (with its
//! additive `raw_value` feature), and importing the crate changes nothing in the importer's
//! own serde code.
//!
//! | feature | adds |
//! | --- | --- |
//! | `schema` | the `schema` and `asyncapi` modules: JSON Schemas and the AsyncAPI document generated from the types (schemars). Turns on serde_json's `preserve_order`, which the schema text needs. |
//! | `validate` | `FrameValidator` (jsonschema); implies `schema`. |
//! | `arbitrary-precision` | serde_json's `arbitrary_precision` for the whole build: every number in a `Value`, not only a request_id, keeps its digits. For servers and harnesses; it stops `f64`s in `#[serde(untagged)]` and `#[serde(flatten)]` types from deserializing, so a library never turns it on for its users. |

pub mod action;
#[cfg(feature = "schema")]
pub mod asyncapi;
pub mod correlate;
pub mod error;
pub mod frame;
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
pub use frame::{Body, ServerFrame};
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
