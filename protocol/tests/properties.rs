//! Property tests: generated frames round-trip exactly, valid ones validate, mutated ones are
//! rejected with the right instance path.

use dcrf_protocol::{Action, FrameValidator, Reply, ReplyAction, Request, RequestId};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON number as text, including integers beyond u64 and floats with trailing digits.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "-?[1-9][0-9]{19,40}"
            .prop_map(|digits| serde_json::from_str(&digits).expect("big integer")),
        (any::<i32>(), 0u32..1000).prop_map(|(whole, frac)| {
            serde_json::from_str(&format!("{whole}.{frac:03}")).expect("decimal")
        }),
        (1u32..10, -300i32..300).prop_map(|(mantissa, exp)| {
            serde_json::from_str(&format!("{mantissa}e{exp}")).expect("exponent")
        }),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number(),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        prop::sample::select(Action::KNOWN.to_vec()),
        "[a-z_]{1,16}".prop_map(|name| Action::from_name(&name)),
    ]
}

fn instance() -> impl Strategy<Value = Value> {
    (1u64..10_000, "[a-z ]{1,12}", "[a-z0-9]{1,8}@example\\.com")
        .prop_map(|(id, username, email)| json!({"id": id, "username": username, "email": email}))
}

fn request() -> impl Strategy<Value = Request> {
    (
        action(),
        prop::option::of(json_value().prop_map(RequestId::from)),
        prop::collection::btree_map("[a-z_]{1,8}", json_value(), 0..4),
    )
        .prop_filter_map("reserved keys", |(action, request_id, args)| {
            let args: Map<String, Value> = args
                .into_iter()
                .filter(|(k, _)| k != "action" && k != "request_id")
                .collect();
            Some(Request {
                action,
                request_id,
                args,
            })
        })
}

fn reply() -> impl Strategy<Value = Reply> {
    (
        prop::collection::vec(json_value(), 0..3),
        json_value(),
        prop_oneof![
            action().prop_map(ReplyAction::Name),
            Just(ReplyAction::Null),
            number().prop_map(ReplyAction::Echoed),
        ],
        100u16..600,
        json_value().prop_map(RequestId::from),
    )
        .prop_map(
            |(errors, data, action, response_status, request_id)| Reply {
                errors,
                data,
                action,
                response_status,
                request_id,
                extra: Map::new(),
            },
        )
}

/// Valid server frames of the kinds SPEC §5 defines, as JSON values.
fn valid_server_frame() -> impl Strategy<Value = Value> {
    prop_oneof![
        (instance(), json_value()).prop_map(|(data, id)| json!({"errors": [], "data": data, "action": "retrieve", "response_status": 200, "request_id": id})),
        json_value().prop_map(|id| json!({"errors": ["Not found"], "data": null, "action": "retrieve", "response_status": 404, "request_id": id})),
        json_value().prop_map(|id| json!({"errors": [], "data": null, "action": "subscribe_instance", "response_status": 201, "request_id": id})),
        json_value().prop_map(|id| json!({"errors": [], "data": null, "action": "unsubscribe_instance", "response_status": 204, "request_id": id})),
        (instance(), json_value()).prop_map(|(data, id)| json!({"errors": [], "data": data, "action": "update", "response_status": 200, "request_id": id})),
        (1u64..10_000, json_value()).prop_map(|(pk, id)| json!({"errors": [], "data": {"pk": pk}, "action": "delete", "response_status": 204, "request_id": id})),
        (prop::collection::vec(instance(), 0..4), json_value()).prop_map(|(data, id)| json!({"errors": [], "data": data, "action": "list", "response_status": 200, "request_id": id})),
        ("[a-z_]{1,10}", json_value()).prop_map(|(action, id)| json!({"errors": [format!("Method \"{action}\" not allowed.")], "data": null, "action": action, "response_status": 405, "request_id": id})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn request_ids_print_back_exactly(id in json_value()) {
        let text = json!({"action": "retrieve", "request_id": id, "pk": 1}).to_string();
        let request = Request::from_frame(&text).expect("parse");
        prop_assert_eq!(request.to_frame(), text);
    }

    #[test]
    fn requests_round_trip(request in request()) {
        let text = request.to_frame();
        let parsed = Request::from_frame(&text).expect("parse");
        prop_assert_eq!(&parsed, &request);
        let via_serde: Request = serde_json::from_str(&text).expect("serde parse");
        prop_assert_eq!(&via_serde, &request);
        prop_assert_eq!(serde_json::to_string(&via_serde).expect("print"), text);
    }

    #[test]
    fn replies_round_trip(reply in reply()) {
        let text = reply.to_frame();
        let parsed = Reply::from_frame(&text).expect("parse");
        prop_assert_eq!(&parsed, &reply);
        prop_assert_eq!(parsed.to_frame(), text);
    }

    #[test]
    fn valid_server_frames_validate(frame in valid_server_frame()) {
        let text = frame.to_string();
        prop_assert!(Reply::from_frame(&text).is_ok());
        let result = FrameValidator::shared().validate_server_frame(&text);
        prop_assert!(result.is_ok(), "{}: {:?}", text, result);
    }

    #[test]
    fn a_missing_key_is_reported_at_the_root(frame in valid_server_frame(), which in 0usize..5) {
        let key = ["errors", "data", "action", "response_status", "request_id"][which];
        let mut frame = frame;
        frame.as_object_mut().expect("object").shift_remove(key);
        let error = FrameValidator::shared().validate_server_frame(&frame.to_string()).unwrap_err();
        prop_assert_eq!(error.violations.len(), 1);
        prop_assert_eq!(&error.violations[0].instance_path, "");
        prop_assert!(error.violations[0].message.contains(key), "{}", error);
    }

    #[test]
    fn a_mistyped_status_is_reported_at_its_path(frame in valid_server_frame(), status in prop_oneof![
        Just(json!("200")), Just(json!(null)), Just(json!(200.5)), Just(json!([200]))
    ]) {
        let mut frame = frame;
        frame["response_status"] = status;
        let error = FrameValidator::shared().validate_server_frame(&frame.to_string()).unwrap_err();
        prop_assert!(error.violations.iter().all(|v| v.instance_path == "/response_status"), "{}", error);
        prop_assert!(Reply::from_value(frame).is_err());
    }

    #[test]
    fn valid_client_frames_validate(pk in 1u64..1000, id in 1u64..u64::MAX, which in 0usize..4) {
        let frame = match which {
            0 => json!({"action": "retrieve", "request_id": id, "pk": pk}),
            1 => json!({"action": "subscribe_instance", "request_id": id, "pk": pk}),
            2 => json!({"action": "unsubscribe_instance", "pk": pk}),
            _ => json!({"action": "patch", "request_id": id, "pk": pk, "data": {"username": "x"}}),
        };
        prop_assert!(FrameValidator::shared().validate_client_frame(&frame.to_string()).is_ok());
        let mut missing = frame.clone();
        missing.as_object_mut().expect("object").shift_remove("pk");
        let error = FrameValidator::shared().validate_client_frame(&missing.to_string()).unwrap_err();
        prop_assert_eq!(&error.violations[0].instance_path, "");
        prop_assert!(error.violations[0].message.contains("pk"), "{}", error);
    }
}

#[test]
fn arbitrary_text_never_panics_the_parsers() {
    proptest!(ProptestConfig::with_cases(2000), |(text in "\\PC{0,64}")| {
        let _ = Request::from_frame(&text);
        let _ = Reply::from_frame(&text);
        let _ = FrameValidator::shared().validate_server_frame(&text);
        let _ = FrameValidator::shared().validate_client_frame(&text);
    });
}
