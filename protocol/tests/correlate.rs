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

fn subscribed(correlator: &mut Correlator, request_id: &str) {
    let request_id = RequestId::parse(request_id).expect("request_id");
    correlator.sent(
        Request::new(Action::SubscribeInstance)
            .with_request_id(request_id.clone())
            .with_arg("pk", 1),
    );
    let frame = format!(
        r#"{{"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": {request_id}}}"#
    );
    let classification = correlator.received(&Reply::from_frame(&frame).expect("reply"));
    assert!(
        matches!(classification, Classification::Reply { .. }),
        "{classification:?}"
    );
}

fn frame(action: &str, request_id: &str) -> Reply {
    Reply::from_frame(&format!(
        r#"{{"errors": [], "data": {{"id": 1}}, "action": "{action}", "response_status": 200, "request_id": {request_id}}}"#
    ))
    .expect("reply")
}

#[test]
fn a_create_event_of_a_subscription_is_an_event() {
    // SPEC §5.6.3: saving a subscribed instance after its row was deleted inserts it again,
    // and DCRF sends the subscribers a `create` frame with status 200.
    let mut correlator = Correlator::new("pk");
    subscribed(&mut correlator, "46");
    assert_eq!(
        correlator.received(&frame("create", "46")),
        Classification::Event {
            subscription: RequestId::from(46u64),
            action: Action::Create
        }
    );
    // A create request of the socket is still matched as a reply first.
    correlator.sent(
        Request::new(Action::Create)
            .with_request_id(47u64)
            .with_arg("data", json!({})),
    );
    assert!(matches!(
        correlator.received(&frame("create", "47")),
        Classification::Reply { .. }
    ));
    assert!(matches!(
        correlator.received(&frame("create", "48")),
        Classification::Unexpected { .. }
    ));
}

#[test]
fn events_are_matched_by_request_id_as_dcrf_compares_them() {
    let mut correlator = Correlator::new("pk");
    subscribed(&mut correlator, "1");
    subscribed(&mut correlator, "18446744073709551617");
    for same in ["1", "1.0", "1e0", "18446744073709551617"] {
        assert!(
            matches!(
                correlator.received(&frame("update", same)),
                Classification::Event { .. }
            ),
            "{same}"
        );
    }
    for other in [
        "\"1\"",
        "true",
        "2",
        "18446744073709551616",
        "18446744073709551617.0",
    ] {
        assert!(
            matches!(
                correlator.received(&frame("update", other)),
                Classification::Unexpected { .. }
            ),
            "{other}"
        );
    }
}

#[test]
fn request_id_equality_and_hash_agree() {
    use std::collections::HashSet;
    let parse = |text: &str| RequestId::parse(text).expect(text);
    let groups: &[&[&str]] = &[
        &["1", "1.0", "1e0", "10E-1", "1.00"],
        &["0", "-0", "0.0", "-0.0"],
        &["\"a\"", "\"\\u0061\""],
        &["[1, {\"b\": 2, \"a\": 1}]", "[1.0,{\"a\":1,\"b\":2}]"],
        &["0.1", "0.1000000000000000055511151231257827"],
        &["18446744073709551617"],
        &["18446744073709551616", "18446744073709551617.0"],
        &["true"],
        &["null"],
    ];
    let mut distinct = HashSet::new();
    for group in groups {
        let first = parse(group[0]);
        for text in *group {
            let id = parse(text);
            assert_eq!(id, first, "{text} == {}", group[0]);
            assert_eq!(id.raw(), text.trim(), "the text is kept");
            let mut set = HashSet::new();
            set.insert(first.clone());
            assert!(set.contains(&id), "{text}: hash agrees with equality");
        }
        assert!(distinct.insert(first), "{} is in no other group", group[0]);
    }
    assert_eq!(distinct.len(), groups.len());
}
