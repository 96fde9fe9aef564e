//! A pull connector inside the real server: pages from a local Okta-shaped API land in the
//! store with their cursor, and after a stop the server resumes from the stored cursor.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use midwatch_server::{AppState, Config};
use midwatch_store::{SqliteStore, Store};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T0: i64 = 1_767_600_000_000;

#[derive(Clone, Default)]
struct Okta {
    records: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<Vec<String>>>,
    base: Arc<Mutex<String>>,
}

fn okta_event(i: usize) -> Value {
    json!({
        "uuid": format!("okta-evt-{i}"),
        "published": midwatch_model::timefmt::format_ms(T0 + i as i64 * 1000),
        "eventType": if i == 0 { "user.session.start" } else { "user.authentication.sso" },
        "displayMessage": "User single sign on to app",
        "actor": {"id": "00u1", "type": "User", "alternateId": "alice@example.com", "displayName": "Alice"},
        "authenticationContext": {"externalSessionId": "okta-session-1"},
        "client": {"ipAddress": "198.51.100.7", "userAgent": {"rawUserAgent": "Mozilla/5.0"}},
        "outcome": {"result": "SUCCESS"},
        "severity": "INFO"
    })
}

async fn logs(
    State(m): State<Okta>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    m.requests.lock().unwrap().push(uri.to_string());
    let records = m.records.lock().unwrap().clone();
    let limit: usize = q["limit"].parse().unwrap();
    let start: usize = q.get("after").map_or(0, |a| a.parse().unwrap());
    let end = (start + limit).min(records.len());
    let page: Vec<Value> = records[start.min(end)..end].to_vec();
    let base = m.base.lock().unwrap().clone();
    let mut h = HeaderMap::new();
    h.insert(
        "link",
        HeaderValue::from_str(&format!(
            "<{base}/api/v1/logs?limit={limit}&after={end}>; rel=\"next\""
        ))
        .unwrap(),
    );
    h.insert("x-rate-limit-remaining", HeaderValue::from_static("50"));
    (h, axum::Json(Value::Array(page)))
}

async fn start_okta(n: usize) -> Okta {
    let m = Okta::default();
    m.records.lock().unwrap().extend((0..n).map(okta_event));
    let app = axum::Router::new()
        .route("/api/v1/logs", axum::routing::get(logs))
        .with_state(m.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    *m.base.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    m
}

async fn run_server_until(dir: &std::path::Path, okta: &Okta, want: u64) {
    let text = format!(
        "[[connectors]]\nname = \"okta-main\"\nkind = \"okta\"\nbase_url = \"{}\"\ntoken = \"t0ken\"\nsince = \"2026-01-05T00:00:00Z\"\npage_size = 5\npoll_ms = 20\n",
        okta.base.lock().unwrap()
    );
    let mut cfg = Config::from_toml(&text, "test.toml").unwrap();
    cfg.data_dir = dir.to_path_buf();
    let pull = midwatch_server::connectors::check(&cfg.connectors).unwrap();
    let (state, pipeline) = AppState::open(&cfg).unwrap();
    let store = Arc::clone(state.store());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(midwatch_server::serve_with(
        listener,
        state,
        false,
        pull,
        async {
            let _ = stopped.await;
        },
    ));
    for _ in 0..400 {
        if store.counts().unwrap().events >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    drop(store);
    tokio::task::spawn_blocking(move || pipeline.join())
        .await
        .unwrap();
}

#[tokio::test]
async fn connector_pages_are_stored_and_resume_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let okta = start_okta(12).await;
    run_server_until(dir.path(), &okta, 12).await;
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.counts().unwrap().events, 12);
        let cursor = store.cursor("okta-main").unwrap().unwrap();
        assert!(cursor.contains("after=1"), "{cursor}");
    }
    let served_before = okta.requests.lock().unwrap().len();
    // While the server is down, Okta logs more.
    okta.records
        .lock()
        .unwrap()
        .extend((12..20).map(okta_event));
    run_server_until(dir.path(), &okta, 20).await;
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.counts().unwrap().events, 20, "no gap, no duplicate");
    let requests = okta.requests.lock().unwrap().clone();
    let resumed = &requests[served_before];
    assert!(
        resumed.contains("after=1"),
        "the restart resumed from the stored cursor: {resumed}"
    );
    assert!(
        requests.iter().filter(|r| r.contains("since=")).count() == 1,
        "{requests:?}"
    );
    // The Okta events stitched into Okta's own session.
    let sessions = store
        .sessions(&midwatch_store::SessionQuery::default())
        .unwrap();
    assert_eq!(sessions.items.len(), 1);
    assert_eq!(sessions.items[0].event_count, 20);
    assert_eq!(sessions.items[0].key, "sid:okta:okta-session-1");
}
