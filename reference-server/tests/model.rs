//! A model from its serializer's schema (`--model`, issue 11): a slug-keyed `Article` and an
//! integer-keyed `Note`, served with DRF-like validation, DCRF's events and a generic admin
//! API; the options a schema cannot express, and the errors for what cannot be served.

mod common;

use std::sync::Arc;

use common::{Client, Transcript, start, within};
use dcrf_model::{ModelOptions, ModelSchema};
use dcrf_reference_server::{
    AdminClient, Config, Endpoints, Profile, SchemaModel, ServeOptions, ServerHandle,
};
use serde_json::{Map, Value, json};

/// A slug-keyed article: the pk is given on create; `title` unique and at most 20
/// characters; `published` optional (its model default comes from the options);
/// `created` set on create, `updated_at` on every save; `secret` write-only.
fn article_schema() -> Value {
    json!({
        "title": "Article",
        "type": "object",
        "properties": {
            "slug": {"type": "string", "maxLength": 30},
            "title": {"type": "string", "maxLength": 20},
            "published": {"type": "boolean"},
            "created": {"type": "string", "format": "date-time", "readOnly": true},
            "updated_at": {"type": "string", "format": "date-time", "readOnly": true},
            "secret": {"type": "string", "writeOnly": true, "nullable": true}
        },
        "required": ["slug", "title", "created", "updated_at"]
    })
}

fn article_model(fixture: &[Value]) -> SchemaModel {
    let options = ModelOptions::new().pk("slug").unique(["title"]);
    let schema = ModelSchema::from_json_schema_with(&article_schema(), &options).expect("schema");
    let mut defaults = Map::new();
    defaults.insert("published".into(), json!(false));
    let serve = ServeOptions {
        defaults,
        ordering: Some("-title".into()),
        auto_now_add: vec!["created".into()],
    };
    SchemaModel::new(schema, serve)
        .expect("servable")
        .with_fixture(fixture)
        .expect("a valid fixture")
}

async fn serve_article(profile: Profile) -> ServerHandle {
    let fixture = [json!({"slug": "first", "title": "First"})];
    start(Config {
        profile,
        model: Some(Arc::new(article_model(&fixture))),
        endpoints: Endpoints {
            observer: "/live/articles/".into(),
            crud: "/live/articles/crud/".into(),
            multiplexed: "/live/".into(),
            stream: "articles".into(),
            lookup_field: "slug".into(),
        },
        ..Config::default()
    })
    .await
}

fn admin(handle: &ServerHandle) -> AdminClient {
    AdminClient::new(&handle.http_url())
        .expect("admin client")
        .with_collection("instances")
}

#[tokio::test]
async fn a_slug_keyed_model_is_served_like_dcrf_serves_it() {
    for profile in [Profile::Dcrf130, Profile::Strict] {
        let handle = serve_article(profile).await;
        assert!(
            handle.ws_url().ends_with("/live/articles/"),
            "{}",
            handle.ws_url()
        );
        let transcript = Transcript::default();
        let mut crud = Client::connect(&handle, "/live/articles/crud/", "crud", &transcript).await;
        let mut observer = Client::connect(&handle, "/live/articles/", "obs", &transcript).await;

        // create: the pk is given, defaults and timestamps are filled, `secret` never shown.
        crud.send_json(json!({"action": "create", "request_id": 1,
            "data": {"slug": "second", "title": " Second ", "secret": "s"}}))
            .await;
        let reply = crud.recv().await;
        assert_eq!(reply["response_status"], 201, "{reply}");
        let data = &reply["data"];
        assert_eq!(
            data.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["slug", "title", "published", "created", "updated_at"]
        );
        assert_eq!(
            (&data["slug"], &data["title"], &data["published"]),
            (&json!("second"), &json!("Second"), &json!(false))
        );
        let created = data["created"].as_str().expect("a timestamp").to_owned();
        assert!(created.ends_with('Z') && created.len() == 27, "{created}");

        // The same slug, the same title: DRF's unique messages, in field order.
        crud.send_json(json!({"action": "create", "request_id": 2,
            "data": {"slug": "second", "title": "Second"}}))
            .await;
        let reply = crud.recv().await;
        assert_eq!(reply["response_status"], 400);
        assert_eq!(
            reply["errors"],
            json!([{"slug": ["article with this slug already exists."],
                    "title": ["article with this title already exists."]}])
        );
        // A full update needs every required writable field, the writable pk too (DRF's
        // ModelSerializer makes a CharField primary key a required field).
        crud.send_json(json!({"action": "update", "request_id": 3, "slug": "second", "data": {}}))
            .await;
        let reply = crud.recv().await;
        assert_eq!(
            reply["errors"],
            json!([{"slug": ["This field is required."], "title": ["This field is required."]}])
        );
        // Its own title is no clash on update.
        crud.send_json(json!({"action": "patch", "request_id": 4, "slug": "second",
            "data": {"title": "Second"}}))
            .await;
        assert_eq!(crud.recv().await["response_status"], 200);

        // list follows the ordering option (-title).
        crud.send_json(json!({"action": "list", "request_id": 5}))
            .await;
        let reply = crud.recv().await;
        let titles: Vec<&Value> = reply["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["title"])
            .collect();
        assert_eq!(titles, [&json!("Second"), &json!("First")]);

        // Events: the admin API's patch (a no-op one too) and delete.
        observer
            .send_json(json!({"action": "subscribe_instance", "request_id": 7, "slug": "second"}))
            .await;
        assert_eq!(observer.recv().await["response_status"], 201);
        let admin = admin(&handle);
        let saved = within(
            "patch",
            admin.patch_instance("second", &json!({"published": true})),
        )
        .await
        .expect("patched");
        let event = observer.recv().await;
        assert_eq!(
            (&event["action"], &event["request_id"]),
            (&json!("update"), &json!(7))
        );
        assert_eq!(event["data"], saved);
        assert_eq!(
            event["data"]["created"],
            json!(created),
            "created is set once"
        );
        within("no-op patch", admin.patch_instance("second", &json!({})))
            .await
            .expect("saved");
        assert_eq!(
            observer.recv().await["action"],
            "update",
            "every save sends an event"
        );
        within("delete", admin.delete("second"))
            .await
            .expect("deleted");
        let event = observer.recv().await;
        assert_eq!(
            (&event["action"], &event["data"], &event["response_status"]),
            (&json!("delete"), &json!({"pk": "second"}), &json!(204))
        );
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn the_admin_api_validates_as_the_serializer_does() {
    let handle = serve_article(Profile::Dcrf130).await;
    let admin = admin(&handle);
    let cases = [
        (
            json!({"slug": "x", "title": "X", "colour": "red"}),
            400,
            json!({"error": "unknown field: colour"}),
        ),
        (
            json!({"slug": "x", "title": "X", "created": "2020-01-01T00:00:00Z"}),
            400,
            json!({"error": "read-only field: created"}),
        ),
        (
            json!({"slug": "x", "title": "t".repeat(21)}),
            400,
            json!({"error": "invalid article", "fields": {"title": ["Ensure this field has no more than 20 characters."]}}),
        ),
        (
            json!({"title": "No slug"}),
            400,
            json!({"error": "invalid article", "fields": {"slug": ["This field is required."]}}),
        ),
    ];
    for (body, status, answer) in cases {
        let response = within(
            "admin",
            admin.request("POST", "/admin/instances", Some(&body)),
        )
        .await
        .expect("an answer");
        assert_eq!(
            (response.status, response.json()),
            (status, answer),
            "{body}"
        );
    }
    let created = within(
        "create",
        admin.create_instance(&json!({"slug": "x", "title": "X"})),
    )
    .await
    .expect("created");
    assert_eq!(created["slug"], "x");
    // The pk in the path is the slug; an unknown one is a 404; /admin/users is the User's.
    let response = within("get", admin.request("GET", "/admin/instances/nope", None))
        .await
        .unwrap();
    assert_eq!(
        (response.status, response.json()),
        (404, json!({"error": "article nope not found"}))
    );
    let response = within("users", admin.request("GET", "/admin/users/1", None))
        .await
        .unwrap();
    assert_eq!(response.status, 404);
    handle.shutdown().await;
}

#[tokio::test]
async fn an_integer_keyed_model_counts_on_from_its_fixture() {
    let schema = json!({"title": "Note", "type": "object", "properties": {
        "id": {"type": "integer", "readOnly": true},
        "text": {"type": "string"}
    }, "required": ["id", "text"]});
    let schema = ModelSchema::from_json_schema(&schema).expect("schema");
    let model = SchemaModel::new(schema, ServeOptions::default())
        .expect("servable")
        .with_fixture(&[json!({"id": 7, "text": "seven"}), json!({"text": "eight"})])
        .expect("fixture");
    assert_eq!(
        model.fixture_json(),
        [
            json!({"id": 7, "text": "seven"}),
            json!({"id": 8, "text": "eight"})
        ]
    );
    let handle = start(Config {
        model: Some(Arc::new(model)),
        ..Config::strict()
    })
    .await;
    let transcript = Transcript::default();
    let mut crud = Client::connect(&handle, "/ws/full/", "crud", &transcript).await;
    crud.send_json(json!({"action": "create", "request_id": 1, "data": {"text": "nine"}}))
        .await;
    assert_eq!(crud.recv().await["data"], json!({"id": 9, "text": "nine"}));
    // Django's int() of the lookup: "9" and 9.5 find 9.
    crud.send_json(json!({"action": "retrieve", "request_id": 2, "pk": "9"}))
        .await;
    assert_eq!(crud.recv().await["data"]["id"], 9);
    crud.send_json(json!({"action": "retrieve", "request_id": 3, "pk": 9.5}))
        .await;
    assert_eq!(crud.recv().await["data"]["id"], 9);
    handle.shutdown().await;
}

#[test]
fn what_a_schema_cannot_say_must_be_given() {
    let schema =
        ModelSchema::from_json_schema_with(&article_schema(), &ModelOptions::new().pk("slug"))
            .expect("schema");
    // `published` is optional and the schema has no default.
    let error = SchemaModel::new(schema.clone(), ServeOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "field \"published\" of Article is optional on create and the schema gives no default: give its value with --default published=JSON"
    );
    let mut defaults = Map::new();
    defaults.insert("colour".into(), json!("red"));
    let error = SchemaModel::new(
        schema.clone(),
        ServeOptions {
            defaults,
            ..ServeOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        error.to_string().starts_with("unknown field \"colour\""),
        "{error}"
    );
    let mut defaults = Map::new();
    defaults.insert("published".into(), json!(false));
    let error = SchemaModel::new(
        schema,
        ServeOptions {
            defaults,
            auto_now_add: vec!["title".into()],
            ..ServeOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("only a read-only date-time"),
        "{error}"
    );
}

#[test]
fn a_fixture_that_does_not_validate_names_the_instance_and_field() {
    let model = || {
        let schema = ModelSchema::from_json_schema_with(
            &article_schema(),
            &ModelOptions::new().pk("slug").unique(["title"]),
        )
        .expect("schema");
        let mut defaults = Map::new();
        defaults.insert("published".into(), json!(false));
        SchemaModel::new(
            schema,
            ServeOptions {
                defaults,
                ..ServeOptions::default()
            },
        )
        .expect("servable")
    };
    let cases = [
        (
            json!([{"slug": "a", "title": "A"}, {"title": "B"}]),
            "fixture instance 1: /slug: This field is required.",
        ),
        (
            json!([{"slug": "a", "title": "A", "colour": 1}]),
            "fixture instance 0: /colour: the model has no such field",
        ),
        (
            json!([{"slug": "a", "title": "A"}, {"slug": "a", "title": "B"}]),
            "fixture instance 1: /slug: duplicate pk a",
        ),
        (
            json!([{"slug": "a", "title": "A"}, {"slug": "b", "title": "A"}]),
            "fixture instance 1: /title: article with this title already exists.",
        ),
        (
            json!([{"slug": "a", "title": 5, "published": "maybe"}]),
            "fixture instance 0: /published: Must be a valid boolean.",
        ),
        (json!(["a"]), "fixture instance 0: : not a JSON object"),
    ];
    for (fixture, message) in cases {
        let error = model()
            .with_fixture(fixture.as_array().unwrap())
            .unwrap_err();
        assert_eq!(error.to_string(), message, "{fixture}");
    }
}
