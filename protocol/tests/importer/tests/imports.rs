//! Importing dcrf-protocol (default features) changes nothing in the importer's own serde code.

use dcrf_protocol::{Body, Reply, Request, ServerFrame};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Amount {
    Number(f64),
    Text(String),
}

#[derive(Debug, PartialEq, Deserialize)]
struct Inner {
    price: f64,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Outer {
    name: String,
    #[serde(flatten)]
    inner: Inner,
}

#[test]
fn an_untagged_enum_reads_a_float() {
    let amount: Amount = serde_json::from_str("1.5").expect("untagged f64");
    assert_eq!(amount, Amount::Number(1.5));
    let text: Amount = serde_json::from_str(r#""1.5""#).expect("untagged string");
    assert_eq!(text, Amount::Text("1.5".into()));
}

#[test]
fn a_flattened_struct_reads_a_float() {
    let outer: Outer =
        serde_json::from_str(r#"{"name": "widget", "price": 1.5}"#).expect("flattened f64");
    assert_eq!(outer.inner.price, 1.5);
    assert_eq!(outer.name, "widget");
}

#[test]
fn values_keep_sorted_key_order() {
    let value: Value = serde_json::from_str(r#"{"b": 1, "a": 2, "c": {"z": 0, "y": 1}}"#)
        .expect("object");
    assert_eq!(value.to_string(), r#"{"a":2,"b":1,"c":{"y":1,"z":0}}"#);
}

#[test]
fn a_big_request_id_prints_back_exactly() {
    let request = r#"{"action":"retrieve","request_id":18446744073709551617,"pk":1}"#;
    let parsed = Request::from_frame(request).expect("request");
    assert_eq!(parsed.to_frame(), request);
    assert_eq!(
        parsed.request_id.as_ref().map(|id| id.raw()),
        Some("18446744073709551617")
    );

    let reply = r#"{"errors":[],"data":{"id":1},"action":"retrieve","response_status":200,"request_id":18446744073709551617}"#;
    let parsed = Reply::from_frame(reply).expect("reply");
    assert_eq!(parsed.to_frame(), reply);
    assert_eq!(serde_json::to_string(&parsed).expect("print"), reply);
}

#[test]
fn a_float_request_id_keeps_its_digits() {
    let request = r#"{"action":"list","request_id":1.50}"#;
    assert_eq!(Request::from_frame(request).expect("request").to_frame(), request);
}

#[derive(Debug, PartialEq, Deserialize)]
struct Product {
    id: String,
    name: String,
    #[serde(flatten)]
    price: Inner,
}

#[test]
fn server_frames_read_into_the_importers_own_types() {
    let event = r#"{"errors": [], "data": {"id": "p1", "name": "Tea", "price": 4.5}, "action": "update", "response_status": 200, "request_id": 18446744073709551617}"#;
    let frame = ServerFrame::<Product>::from_frame(event).expect("event");
    assert_eq!(frame.request_id.raw(), "18446744073709551617");
    assert_eq!(
        frame.body,
        Body::Instance(Product {
            id: "p1".into(),
            name: "Tea".into(),
            price: Inner { price: 4.5 },
        })
    );
}
