//! The correlator tells replies from events from unexpected frames (SPEC §4.3).

use dcrf_protocol::{Action, Classification, Correlator, Reply, Request, RequestId};
use serde_json::json;

fn reply(frame: serde_json::Value) -> Reply {
    Reply::from_value(frame).expect("reply")
}

#[test]
fn replies_are_matched_by_request_id_not_by_order() {
    let mut correlator = Correlator::new("pk");
    correlator.sent(
        Request::new(Action::Retrieve)
            .with_request_id(1u64)
            .with_arg("pk", 1),
    );
    correlator.sent(
        Request::new(Action::Retrieve)
            .with_request_id(2u64)
            .with_arg("pk", 2),
    );
    let second = correlator.received(&reply(json!({"errors": [], "data": {"id": 2}, "action": "retrieve", "response_status": 200, "request_id": 2})));
    assert_eq!(
        second,
        Classification::Reply {
            request_id: RequestId::from(2u64),
            action: Action::Retrieve
        }
    );
    assert_eq!(correlator.outstanding().len(), 1);
    let again = correlator.received(&reply(json!({"errors": [], "data": {"id": 2}, "action": "retrieve", "response_status": 200, "request_id": 2})));
    assert!(
        matches!(again, Classification::Unexpected { .. }),
        "{again:?}"
    );
}

#[test]
fn a_subscription_turns_update_frames_into_events_until_unsubscribed() {
    let mut correlator = Correlator::new("pk");
    correlator.sent(
        Request::new(Action::SubscribeInstance)
            .with_request_id("sub")
            .with_arg("pk", 1),
    );
    let update = json!({"errors": [], "data": {"id": 1}, "action": "update", "response_status": 200, "request_id": "sub"});
    assert!(
        matches!(
            correlator.received(&reply(update.clone())),
            Classification::Unexpected { .. }
        ),
        "no event before the 201"
    );
    correlator.received(&reply(json!({"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": "sub"})));
    assert_eq!(
        correlator.received(&reply(update.clone())),
        Classification::Event {
            subscription: RequestId::from("sub"),
            action: Action::Update
        }
    );
    correlator.sent(Request::new(Action::UnsubscribeInstance).with_arg("pk", 1));
    assert_eq!(
        correlator.received(&reply(json!({"errors": [], "data": null, "action": "unsubscribe_instance", "response_status": 204, "request_id": null}))),
        Classification::Reply { request_id: RequestId::null(), action: Action::UnsubscribeInstance }
    );
    assert!(correlator.subscriptions().is_empty());
    assert!(matches!(
        correlator.received(&reply(update)),
        Classification::Unexpected { .. }
    ));
}

#[test]
fn a_failed_subscription_opens_nothing() {
    let mut correlator = Correlator::new("pk");
    correlator.sent(
        Request::new(Action::SubscribeInstance)
            .with_request_id(9u64)
            .with_arg("pk", 999),
    );
    correlator.received(&reply(json!({"errors": ["Not found"], "data": null, "action": "subscribe_instance", "response_status": 404, "request_id": 9})));
    assert!(correlator.subscriptions().is_empty());
}

#[test]
fn operations_name_the_missing_argument() {
    let request =
        Request::from_value(json!({"action": "retrieve", "request_id": 1})).expect("request");
    assert_eq!(
        request.operation("pk").unwrap_err().to_string(),
        "action `retrieve` requires the argument `pk`"
    );
    let request =
        Request::from_value(json!({"action": "subscribe_instance", "request_id": [1], "pk": 1}))
            .expect("request");
    assert_eq!(
        request.operation("pk").unwrap_err().to_string(),
        "`request_id` must be a string or a number, found array"
    );
    let request =
        Request::from_value(json!({"action": "retrieve", "username": "test 1"})).expect("request");
    assert!(
        request.operation("username").is_ok(),
        "the lookup field is configurable"
    );
    assert_eq!(
        Request::from_frame("[1,2]").unwrap_err().to_string(),
        "frame is a JSON array, not an object"
    );
    assert_eq!(
        Request::from_frame("{}").unwrap_err().to_string(),
        "missing key `action`"
    );
    assert_eq!(
        Request::from_frame(r#"{"action": 42}"#)
            .unwrap_err()
            .to_string(),
        "`action` must be a string, found number"
    );
}
