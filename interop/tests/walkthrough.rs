//! Issue 11, section 5: the README's walkthrough "Develop a client against your own model,
//! without Django", run step by step on the shop app (`interop/shop`):
//!
//! 1. drf-spectacular writes the schema of the shop's REST API (`manage.py spectacular`
//!    through the shop's virtualenv) into a temp file, which must be the committed
//!    `interop/shop/openapi.json` byte for byte;
//! 2. `dcrf-schema` turns its component `Product` into typed message schemas, and
//!    json-schema-to-typescript (`json2ts`, the CLI of the package `interop/js` pins) turns
//!    those into `.d.ts` files, whose `Product` types are checked field by field;
//! 3. `interop/shop/stand-in.sh` starts the reference server on the shop's model and fixture;
//! 4. two clients subscribe to one product (tokio-tungstenite here, and the README's
//!    `interop/js/watch.mjs`), the admin CLI changes its price and then deletes it, and both
//!    clients must receive the `update` event with the admin's data and then the `delete`
//!    event.
//!
//! The binaries are the workspace's (`cargo build`), the commands those the README shows;
//! a second test checks that the README still shows them. Every wait has a deadline and
//! every child process is killed on drop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dcrf_interop::repo_root;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The product the walkthrough edits (the first of `interop/shop/fixture.json`).
const PK: &str = "00000000-0000-4000-8000-000000000001";
/// The admin CLI's change.
const PATCH: &str = r#"{"price": "13.75"}"#;
/// How long one step may take on a loaded 2-core machine (the binaries are built first).
const STEP: Duration = Duration::from_secs(60);

fn text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        text(&output)
    );
    output
}

/// A child process killed (and reaped) on drop; when the test is failing, its log (stderr),
/// if it has one, is printed.
struct Killed(Child, Option<PathBuf>);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if let (true, Some(log)) = (std::thread::panicking(), &self.1) {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            eprintln!("--- {}\n{text}", log.display());
        }
    }
}

/// Reads `child`'s stdout on a thread; the lines arrive on the receiver.
fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    received
}

/// The next line that `wanted` accepts, within `STEP`.
fn next_line(lines: &mpsc::Receiver<String>, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if wanted(&line) => return line,
            Ok(_) => {}
            Err(error) => panic!("no {what} within {STEP:?} ({error})"),
        }
    }
}

/// Builds `dcrf-reference-server` and `dcrf-schema` (what `cargo install` would give a user)
/// and returns their paths by name, from cargo's own report of what it built.
fn build_binaries() -> BTreeMap<String, PathBuf> {
    let output = run(Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args(["build", "-q", "--message-format=json-render-diagnostics"])
        .args(["-p", "dcrf-reference-server", "-p", "dcrf-model", "--bins"]));
    let binaries: BTreeMap<String, PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            let name = message["target"]["name"].as_str()?.to_owned();
            Some((name, PathBuf::from(message["executable"].as_str()?)))
        })
        .collect();
    for name in ["dcrf-reference-server", "dcrf-schema"] {
        assert!(
            binaries.contains_key(name),
            "cargo build did not report {name}: {binaries:?}"
        );
    }
    binaries
}

/// `npm ci` in `interop/js` when `node_modules` is missing or older than the lock file (what
/// `interop/js/run.sh` does).
fn npm_ci() {
    let js = repo_root().join("interop/js");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let installed = modified(&js.join("node_modules/.package-lock.json"));
    if installed.is_none() || installed < modified(&js.join("package-lock.json")) {
        run(Command::new("npm")
            .current_dir(&js)
            .args(["ci", "--no-audit", "--no-fund"]));
    }
}

/// The member lines of `export interface NAME { ... }` in TypeScript text, comments left out.
fn interface_members(ts: &str, name: &str) -> Vec<String> {
    let head = format!("export interface {name} {{");
    let body = ts
        .lines()
        .skip_while(|line| *line != head)
        .skip(1)
        .take_while(|line| *line != "}");
    let mut members = Vec::new();
    let mut in_comment = false;
    for line in body.map(str::trim) {
        if in_comment || line.starts_with("/*") {
            in_comment = !line.ends_with("*/");
        } else {
            members.push(line.to_owned());
        }
    }
    assert!(!members.is_empty(), "no `{head}` in:\n{ts}");
    members
}

/// The next text frame on `socket`, parsed, within `STEP`.
async fn next_frame<S>(socket: &mut S, what: &str) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {STEP:?}"))
            .unwrap_or_else(|| panic!("the socket closed before the {what}"))
            .unwrap_or_else(|error| panic!("the socket failed before the {what}: {error}"));
        if let Message::Text(frame) = message {
            println!("<- {frame}");
            return serde_json::from_str(frame.as_str())
                .unwrap_or_else(|error| panic!("the {what} is not JSON ({error}): {frame}"));
        }
    }
}

#[test]
fn the_readme_walkthrough_runs_on_the_shop_app() {
    let root = repo_root();
    let shop = root.join("interop/shop");
    let work =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("walkthrough-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("the work directory");
    let binaries = build_binaries();

    // 1. drf-spectacular: the schema of the shop's REST API.
    run(Command::new("bash").arg(shop.join("setup.sh")));
    let venv = std::env::var_os("SHOP_VENV").map_or_else(|| shop.join(".venv"), PathBuf::from);
    let openapi = work.join("openapi.json");
    run(Command::new(venv.join("bin/python"))
        .current_dir(&shop)
        .args(["manage.py", "spectacular", "--format", "openapi-json"])
        .args(["--validate", "--fail-on-warn", "--file"])
        .arg(&openapi));
    let generated = std::fs::read_to_string(&openapi).expect("spectacular wrote its file");
    let committed = std::fs::read_to_string(shop.join("openapi.json")).expect("openapi.json");
    assert!(
        committed.strip_suffix('\n') == Some(generated.as_str()),
        "interop/shop/openapi.json is not what drf-spectacular writes: run bash interop/shop/schema.sh"
    );

    // 2. Typed message schemas, then TypeScript types.
    let typed = work.join("typed");
    run(Command::new(&binaries["dcrf-schema"])
        .arg("--openapi")
        .arg(&openapi)
        .args(["--component", "Product", "--path", "/api/live/products/"])
        .args(["--unique", "name", "--allow-blank", "secret_note", "--out"])
        .arg(&typed));
    npm_ci();
    let types = work.join("types");
    run(
        Command::new(root.join("interop/js/node_modules/.bin/json2ts"))
            .arg("-i")
            .arg(typed.join("draft-07/*.json"))
            .arg("-o")
            .arg(format!("{}/", types.display()))
            .arg("--no-additionalProperties"),
    );
    let read_ts = |file: &str| {
        std::fs::read_to_string(types.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    let category = r#"category: "beans" | "equipment" | "accessories";"#;
    assert_eq!(
        interface_members(&read_ts("product.d.ts"), "Product"),
        [
            "id: string;",
            "name: string;",
            "price: string;",
            "in_stock: boolean;",
            category,
            "updated_at: string;",
        ],
        "the Product as the server sends it"
    );
    assert_eq!(
        interface_members(&read_ts("product-request.d.ts"), "ProductRequest"),
        [
            "name: string;",
            "price: string;",
            "in_stock?: boolean;",
            &category.replacen("category:", "category?:", 1),
            "secret_note?: string;",
        ],
        "the Product as create and update accept it"
    );
    let update = read_ts("update-event.d.ts");
    let update_event = interface_members(&update, "UpdateEvent");
    for member in [
        "data: Product;",
        r#"action: "update";"#,
        "response_status: 200;",
    ] {
        assert!(
            update_event.iter().any(|m| m == member),
            "UpdateEvent lacks `{member}`:\n{update}"
        );
    }
    let delete = read_ts("delete-event.d.ts");
    assert_eq!(
        interface_members(&delete, "ProductDeleted"),
        ["pk: string;"]
    );
    assert!(
        interface_members(&delete, "DeleteEvent").contains(&"data: ProductDeleted;".to_owned()),
        "{delete}"
    );

    // 3. The stand-in: the reference server on the shop's model and fixture.
    let log = work.join("stand-in.log");
    let mut stand_in = Killed(
        Command::new("bash")
            .arg(shop.join("stand-in.sh"))
            .args(["--listen", "127.0.0.1:0"])
            .env("DCRF_REFERENCE_SERVER", &binaries["dcrf-reference-server"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the stand-in's log"))
            .spawn()
            .expect("start interop/shop/stand-in.sh"),
        Some(log),
    );
    let lines = stdout_lines(&mut stand_in.0);
    let listening = next_line(&lines, "listening line from the stand-in", |line| {
        line.starts_with("listening on ")
    });
    println!("{listening}");
    let url = listening["listening on ".len()..].to_owned();
    assert!(
        url.ends_with("/api/live/products/"),
        "the stand-in listens on {url}"
    );
    let http = format!(
        "http://{}",
        url.trim_start_matches("ws://")
            .trim_end_matches("/api/live/products/")
    );

    // 4. Subscribe, then change and delete the product with the admin CLI.
    let mut watch = Killed(
        Command::new("node")
            .arg(root.join("interop/js/watch.mjs"))
            .args([&url, PK])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node interop/js/watch.mjs"),
        None,
    );
    let watched = stdout_lines(&mut watch.0);
    let admin = |args: &[&str]| -> Output {
        run(Command::new(&binaries["dcrf-reference-server"])
            .args(["admin", "--url", &http, "--collection", "instances"])
            .args(args))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (update_event, delete_event) = runtime.block_on(async {
        let (mut socket, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(&url))
            .await
            .expect("connect within the deadline")
            .unwrap_or_else(|error| panic!("connect to {url}: {error}"));
        for request in [
            json!({"action": "retrieve", "request_id": 2, "pk": PK}),
            json!({"action": "subscribe_instance", "request_id": 1, "pk": PK}),
        ] {
            println!("-> {request}");
            socket
                .send(Message::text(request.to_string()))
                .await
                .expect("send");
        }
        let retrieved = next_frame(&mut socket, "retrieve reply").await;
        assert_eq!(retrieved["response_status"], 200, "{retrieved}");
        assert_eq!(retrieved["data"]["price"], "12.50", "{retrieved}");
        let subscribed = next_frame(&mut socket, "subscribe_instance reply").await;
        assert_eq!(
            subscribed,
            json!({"errors": [], "data": null, "action": "subscribe_instance",
                   "response_status": 201, "request_id": 1})
        );
        let watch_subscribed = next_line(&watched, "subscribe reply from watch.mjs", |line| {
            line.starts_with("<- ")
        });
        assert_eq!(
            serde_json::from_str::<Value>(&watch_subscribed[3..]).ok(),
            Some(subscribed),
            "watch.mjs: {watch_subscribed}"
        );

        let patched = admin(&["update", PK, "--data", PATCH]);
        let patched: Value = serde_json::from_slice(&patched.stdout).expect("admin prints JSON");
        println!("admin update: {patched}");
        let update_event = next_frame(&mut socket, "update event").await;
        assert_eq!(
            update_event,
            json!({"errors": [], "data": patched, "action": "update",
                   "response_status": 200, "request_id": 1})
        );
        let data = &update_event["data"];
        assert_eq!(data["price"], "13.75");
        assert_eq!(data["id"], PK);
        let before = &retrieved["data"];
        assert_ne!(data["updated_at"], before["updated_at"], "updated_at");
        for field in ["name", "in_stock", "category"] {
            assert_eq!(data[field], before[field], "{field}");
        }

        admin(&["delete", PK]);
        let delete_event = next_frame(&mut socket, "delete event").await;
        assert_eq!(
            delete_event,
            json!({"errors": [], "data": {"pk": PK}, "action": "delete",
                   "response_status": 204, "request_id": 1})
        );
        (update_event, delete_event)
    });
    for (what, frame) in [("update", update_event), ("delete", delete_event)] {
        let line = next_line(&watched, &format!("{what} event from watch.mjs"), |line| {
            line.starts_with("<- ")
        });
        assert_eq!(
            serde_json::from_str::<Value>(&line[3..]).ok(),
            Some(frame),
            "watch.mjs printed another {what} event: {line}"
        );
        println!("watch.mjs {line}");
    }
    drop(watch);
    drop(stand_in);
    let _ = std::fs::remove_dir_all(&work);
}

/// The README shows the commands the test above runs.
#[test]
fn the_readme_shows_the_walkthrough_commands() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Develop a client against your own model, without Django"))
        .expect("README.md has the walkthrough section");
    for command in [
        "bash interop/shop/setup.sh",
        "manage.py spectacular --format openapi-json --validate --fail-on-warn --file",
        "dcrf-schema --openapi /tmp/shop/openapi.json --component Product --path /api/live/products/ --unique name --allow-blank secret_note --out /tmp/shop/typed",
        "json2ts -i '/tmp/shop/typed/draft-07/*.json' -o /tmp/shop/types/ --no-additionalProperties",
        "bash interop/shop/stand-in.sh",
        "node interop/js/watch.mjs ws://127.0.0.1:8000/api/live/products/ 00000000-0000-4000-8000-000000000001",
        r#"dcrf-reference-server admin --url http://127.0.0.1:8000 --collection instances update 00000000-0000-4000-8000-000000000001 --data '{"price": "13.75"}'"#,
        "dcrf-reference-server admin --url http://127.0.0.1:8000 --collection instances delete 00000000-0000-4000-8000-000000000001",
        "cargo test -p dcrf-interop --test walkthrough",
    ] {
        assert!(
            section.contains(command),
            "the README's walkthrough lacks `{command}`"
        );
    }
    // Every flag of the stand-in's model is shown and explained.
    let stand_in =
        std::fs::read_to_string(repo_root().join("interop/shop/stand-in.sh")).expect("stand-in");
    for flag in [
        "--model",
        "--component Product",
        "--unique name",
        "--allow-blank secret_note",
        "--default in_stock=true",
        "--default 'category=\"beans\"'",
        "--default 'secret_note=\"\"'",
        "--ordering name",
        "--fixture",
        "--observer-path /api/live/products/",
        "--crud-path /api/live/products/crud/",
        "--multiplexed-path /api/live/multiplexed/",
        "--stream products",
    ] {
        assert!(stand_in.contains(flag), "stand-in.sh lacks `{flag}`");
        assert!(
            section.contains(flag),
            "the README's walkthrough lacks `{flag}`"
        );
    }
}
