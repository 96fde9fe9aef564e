//! The server over a real loopback socket with a real SQLite store: ingest, query, limits,
//! garbage, backpressure, redelivery and restarts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_model::Inventory;
use midwatch_server::{AppState, Config};
use midwatch_store::{Batch, SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Server {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pipeline: Option<midwatch_server::PipelineHandle>,
}

impl Server {
    async fn start(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> Server {
        let mut cfg = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        tweak(&mut cfg);
        let (state, pipeline) = AppState::open(&cfg).unwrap();
        Self::run(state, pipeline).await
    }

    async fn run(state: AppState, pipeline: midwatch_server::PipelineHandle) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            midwatch_server::serve(listener, state, false, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Server {
            base: format!("http://{addr}"),
            client: {
                // The HTTP client is built with TLS support that needs a crypto provider.
                midwatch_connectors::install_tls_provider();
                reqwest::Client::new()
            },
            stop: Some(tx),
            task: Some(task),
            pipeline: Some(pipeline),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
        let p = self.pipeline.take().unwrap();
        tokio::task::spawn_blocking(move || p.join()).await.unwrap();
    }

    async fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

const T0: i64 = 1_767_600_000_000;

fn sensor(id: &str, t: i64, kind: &str, sid: &str, who: &str) -> String {
    json!({
        "id": id, "ts": t, "type": kind,
        "identity": {"id": who},
        "session": {"id": sid},
        "app": {"domain": "github.com", "name": "GitHub"},
        "device": {"id": "laptop-1", "managed": true, "user_agent": "Mozilla/5.0"},
        "network": {"ip": "198.51.100.7", "asn": 64500, "country": "PT"},
    })
    .to_string()
}

fn day(n: usize, sid: &str, who: &str, t0: i64) -> String {
    let mut lines = vec![sensor(&format!("{sid}-0"), t0, "login", sid, who)];
    for i in 1..n {
        lines.push(sensor(
            &format!("{sid}-{i}"),
            t0 + i as i64 * 1000,
            "navigate",
            sid,
            who,
        ));
    }
    lines.join("\n")
}

#[tokio::test]
async fn ingest_then_query_over_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), |_| {}).await;

    let (status, body, _) = srv
        .post(
            "/v1/identities",
            json!([{"id": "alice@example.com", "aliases": ["alice"], "mfa_enrolled": true}])
                .to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = srv
        .post("/v1/apps", json!({"apps": [{"id": "github", "domain": "github.com", "managed": true, "sensitivity": 2}]}).to_string())
        .await;
    assert_eq!(status, 200);

    let (status, body, _) = srv
        .post("/v1/events?source=sensor", day(5, "s1", "alice", T0))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 5);
    assert_eq!(body["stored"], 5);
    assert_eq!(body["rejected"], 0);

    let (status, body) = srv.get("/v1/sessions").await;
    assert_eq!(status, 200);
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(
        s["identity"], "alice@example.com",
        "alias resolved through the inventory"
    );
    assert_eq!(s["app_id"], "github");
    assert_eq!(s["event_count"], 5);
    assert_eq!(s["state"], "active");
    assert_eq!(s["baseline"]["device_id"], "laptop-1");

    let id = s["id"].as_str().unwrap();
    let (status, body) = srv.get(&format!("/v1/sessions/{id}")).await;
    assert_eq!(status, 200);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    let times: Vec<i64> = events.iter().map(|e| e["time"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(events[0]["class_uid"], 3002);
    assert_eq!(
        events[0]["midwatch"]["identity"]["uid"],
        "alice@example.com"
    );
    assert_eq!(events[0]["midwatch"]["app"]["managed"], true);

    let (status, body) = srv
        .get("/v1/sessions?identity=alice@example.com&state=active&app=github.com")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
    let (_, body) = srv.get("/v1/sessions?identity=bob").await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 0);
    let (_, body) = srv
        .get(&format!("/v1/sessions?since={}", T0 + 10_000_000))
        .await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 0);
    let (_, body) = srv.get("/v1/sessions?until=2026-01-05T00:00:00Z").await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 0);

    let (status, body) = srv.get("/v1/identities").await;
    assert_eq!(status, 200);
    assert_eq!(body["identities"][0]["id"], "alice@example.com");
    let (_, body) = srv.get("/v1/apps").await;
    assert_eq!(body["apps"][0]["domain"], "github.com");
    let (status, body) = srv.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body["store"]["events"], 5);

    let (status, metrics) = srv.get("/metrics").await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains("midwatch_ingest_records_total{source=\"sensor\",outcome=\"accepted\"} 5"),
        "{metrics}"
    );
    assert!(metrics.contains("midwatch_store_events 5"));
    assert!(metrics.contains("midwatch_sessions_live 1"));
    srv.stop().await;
}

#[tokio::test]
async fn json_arrays_pagination_and_redelivery() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), |_| {}).await;
    let mut items = vec![];
    for s in 0..12 {
        items.push(
            serde_json::from_str::<Value>(&sensor(
                &format!("e{s}"),
                T0 + s * 1000,
                "login",
                &format!("s{s}"),
                "bob",
            ))
            .unwrap(),
        );
    }
    let body = Value::Array(items).to_string();
    let (status, report, _) = srv.post("/v1/events", body.clone()).await;
    assert_eq!(status, 202, "{report}");
    assert_eq!(report["stored"], 12);
    // A sender retrying the same batch stores nothing twice.
    let (status, report, _) = srv.post("/v1/events", body).await;
    assert_eq!(status, 202);
    assert_eq!(report["stored"], 0);
    assert_eq!(report["duplicates"], 12);

    let mut ids = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/sessions?limit=5&cursor={c}"),
            None => "/v1/sessions?limit=5".to_string(),
        };
        let (status, page) = srv.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for s in page["sessions"].as_array().unwrap() {
            ids.push(s["id"].as_str().unwrap().to_string());
            assert_eq!(s["event_count"], 1, "redelivery must not count twice");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(ids.len(), 12);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    srv.stop().await;
}

#[tokio::test]
async fn garbage_is_rejected_with_reasons_and_nothing_accepted_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), |c| {
        c.limits.max_line_bytes = 2048;
        c.limits.max_body_bytes = 64 * 1024;
        c.limits.max_batch_records = 100;
    })
    .await;
    let mut stored = 0;

    // Mixed batch: good lines around garbage, truncated JSON, wrong types, a long line.
    let lines = [
        sensor("g1", T0, "login", "s1", "carol"),
        "this is not json".to_string(),
        r#"{"id":"t1","ts":1767600000000,"type":"login","identity":{"id":"#.to_string(),
        r#"{"id":"w1","ts":"noon","type":"login"}"#.to_string(),
        r#"{"id":"w2","ts":1767600000000,"type":"login","network":{"asn":"lots"}}"#.to_string(),
        r#"{"id":"w3","ts":1767600000000,"type":"login","password":"hunter2"}"#.to_string(),
        format!(
            r#"{{"id":"long","ts":1767600000000,"type":"navigate","url":"https://x.com/{}"}}"#,
            "a".repeat(4000)
        ),
        "[1,2,3]".to_string(),
        "\u{0}\u{1}\u{2}".to_string(),
        sensor("g2", T0 + 1000, "navigate", "s1", "carol"),
    ];
    let (status, report, _) = srv.post("/v1/events", lines.join("\n")).await;
    assert_eq!(status, 202, "{report}");
    assert_eq!(report["accepted"], 2);
    assert_eq!(report["rejected"], 8);
    stored += 2;
    let rejects = report["rejects"].as_array().unwrap();
    let lines_rejected: Vec<u64> = rejects
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines_rejected, [2, 3, 4, 5, 6, 7, 8, 9]);
    let reasons: Vec<&str> = rejects
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[2].contains("`ts`"), "{reasons:?}");
    assert!(reasons[3].contains("`network.asn`"), "{reasons:?}");
    assert!(
        reasons[4].contains("`password`: never accepted"),
        "{reasons:?}"
    );
    assert!(
        reasons[5].contains("over the limit of 2048 bytes"),
        "{reasons:?}"
    );

    // Everything rejected: 400 with the reasons.
    let (status, report, _) = srv.post("/v1/events", "nope\n{\"also\": \"nope\"}").await;
    assert_eq!(status, 400);
    assert_eq!(report["rejected"], 2);

    // Empty body, unknown source, bad JSON array, compressed body, wrong method, bad query.
    let (status, body, _) = srv.post("/v1/events", "  \n ").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("empty_body"))
    );
    let (status, body, _) = srv
        .post(
            "/v1/events?source=carrier-pigeon",
            sensor("x", T0, "login", "s", "c"),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("carrier-pigeon")
    );
    let (status, body, _) = srv.post("/v1/events", "[{\"id\": 1}, ").await;
    assert_eq!(status, 400, "{body}");
    let res = srv
        .client
        .post(format!("{}/v1/events", srv.base))
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let (status, body) = srv.get("/v1/sessions?limit=0").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = srv.get("/v1/sessions?limit=abc").await;
    assert_eq!(status, 400);
    let (status, _) = srv.get("/v1/sessions?state=sleeping").await;
    assert_eq!(status, 400);
    let (status, _) = srv.get("/v1/sessions?since=yesterday").await;
    assert_eq!(status, 400);
    let (status, _) = srv.get("/v1/sessions?cursor=forged").await;
    assert_eq!(status, 400);
    let (status, _) = srv.get("/v1/sessions?colour=red").await;
    assert_eq!(status, 400);
    let (status, _) = srv.get("/v1/sessions/ses_nope").await;
    assert_eq!(status, 404);
    let (status, _) = srv.get("/v1/nothing-here").await;
    assert_eq!(status, 404);
    let (status, body, _) = srv
        .post(
            "/v1/identities",
            "{\"id\": \"bot\", \"kind\": \"ai_agent\"}",
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("owner"),
        "{body}"
    );
    let (status, _, _) = srv.post("/v1/apps", "garbage").await;
    assert_eq!(status, 400);

    // Oversized body: 413, and nothing of it stored.
    let big = day(400, "big", "carol", T0);
    assert!(big.len() > 64 * 1024);
    let (status, body, _) = srv.post("/v1/events", big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "body_too_large");
    // Too many records: 413, nothing stored.
    let many = day(101, "many", "carol", T0);
    assert!(many.len() < 64 * 1024);
    let (status, body, _) = srv.post("/v1/events", many).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "too_many_records");
    // A body sent without a length (chunked) is capped too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![b' '; 1024])).collect();
    let res = srv
        .client
        .post(format!("{}/v1/events", srv.base))
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413);

    // Still serving, and every accepted event is there.
    let (status, report, _) = srv
        .post("/v1/events", day(3, "after", "carol", T0 + 5000))
        .await;
    assert_eq!(status, 202, "{report}");
    stored += 3;
    let (_, health) = srv.get("/healthz").await;
    assert_eq!(health["store"]["events"], stored);
    srv.stop().await;
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    struct Iter(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Iter {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(chunks.into_iter())
}

/// The real SQLite store behind a gate the test opens: holds the pipeline mid-commit so the
/// queue fills deterministically.
#[derive(Debug)]
struct Gated {
    inner: SqliteStore,
    gate: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Store for Gated {
    fn append(&self, batch: Batch<'_>) -> Result<usize, midwatch_store::StoreError> {
        if !batch.events.is_empty()
            && let Some(rx) = self.gate.lock().unwrap().as_ref()
        {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
        self.inner.append(batch)
    }
    fn raw(
        &self,
        sha256: &str,
    ) -> Result<Option<midwatch_model::event::RawRecord>, midwatch_store::StoreError> {
        self.inner.raw(sha256)
    }
    fn cursor(&self, connector: &str) -> Result<Option<String>, midwatch_store::StoreError> {
        self.inner.cursor(connector)
    }
    fn known_event_ids(&self, ids: &[&str]) -> Result<Vec<String>, midwatch_store::StoreError> {
        self.inner.known_event_ids(ids)
    }
    fn session(
        &self,
        id: &str,
    ) -> Result<Option<midwatch_model::Session>, midwatch_store::StoreError> {
        self.inner.session(id)
    }
    fn sessions(
        &self,
        q: &midwatch_store::SessionQuery,
    ) -> Result<midwatch_store::Page<midwatch_model::Session>, midwatch_store::StoreError> {
        self.inner.sessions(q)
    }
    fn live_sessions(&self) -> Result<Vec<midwatch_model::Session>, midwatch_store::StoreError> {
        self.inner.live_sessions()
    }
    fn events(
        &self,
        q: &midwatch_store::EventQuery,
    ) -> Result<midwatch_store::Page<midwatch_model::Event>, midwatch_store::StoreError> {
        self.inner.events(q)
    }
    fn put_identities(
        &self,
        i: &[midwatch_model::Identity],
    ) -> Result<(), midwatch_store::StoreError> {
        self.inner.put_identities(i)
    }
    fn identities(&self) -> Result<Vec<midwatch_model::Identity>, midwatch_store::StoreError> {
        self.inner.identities()
    }
    fn put_apps(&self, a: &[midwatch_model::App]) -> Result<(), midwatch_store::StoreError> {
        self.inner.put_apps(a)
    }
    fn apps(&self) -> Result<Vec<midwatch_model::App>, midwatch_store::StoreError> {
        self.inner.apps()
    }
    fn findings(
        &self,
        q: &midwatch_store::FindingQuery,
    ) -> Result<midwatch_store::Page<midwatch_model::Finding>, midwatch_store::StoreError> {
        self.inner.findings(q)
    }
    fn finding(
        &self,
        id: &str,
    ) -> Result<Option<midwatch_model::Finding>, midwatch_store::StoreError> {
        self.inner.finding(id)
    }
    fn counts(&self) -> Result<midwatch_store::Counts, midwatch_store::StoreError> {
        self.inner.counts()
    }
}

#[tokio::test]
async fn full_queue_answers_429_with_retry_after_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (open, gate_rx) = std::sync::mpsc::channel();
    let store = Arc::new(Gated {
        inner: SqliteStore::open(dir.path()).unwrap(),
        gate: Mutex::new(Some(gate_rx)),
    });
    let cfg = Config {
        data_dir: dir.path().to_path_buf(),
        limits: midwatch_server::config::LimitsConfig {
            queue_depth: 1,
            ..Default::default()
        },
        ..Config::default()
    };
    let (state, pipeline) = AppState::with_store(store, Inventory::default(), &cfg).unwrap();
    let srv = Arc::new(Server::run(state, pipeline).await);

    // Batch 1 holds the pipeline at the gate; batch 2 fills the one queue slot.
    let first = {
        let srv = Arc::clone(&srv);
        tokio::spawn(async move { srv.post("/v1/events", day(3, "q1", "dave", T0)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = {
        let srv = Arc::clone(&srv);
        tokio::spawn(async move { srv.post("/v1/events", day(3, "q2", "dave", T0)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body, headers) = srv.post("/v1/events", day(3, "q3", "dave", T0)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(body["error"]["code"], "busy");

    open.send(()).unwrap();
    open.send(()).unwrap();
    let (s1, r1, _) = first.await.unwrap();
    let (s2, r2, _) = second.await.unwrap();
    assert_eq!((s1, s2), (202, 202), "{r1} {r2}");
    // The refused batch is retried, as a client would after Retry-After.
    open.send(()).unwrap();
    let (status, _, _) = srv.post("/v1/events", day(3, "q3", "dave", T0)).await;
    assert_eq!(status, 202);
    let (_, health) = srv.get("/healthz").await;
    assert_eq!(health["store"]["events"], 9);
    let (_, metrics) = srv.get("/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("midwatch_ingest_throttled_total 1")
    );
    Arc::try_unwrap(srv).ok().unwrap().stop().await;
}

#[tokio::test]
async fn acknowledged_events_survive_a_restart_and_sessions_continue() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), |_| {}).await;
    let (status, _, _) = srv.post("/v1/events", day(4, "r1", "erin", T0)).await;
    assert_eq!(status, 202);
    srv.stop().await;

    // The database alone holds what was acknowledged.
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.counts().unwrap().events, 4);
    }

    let srv = Server::start(dir.path(), |_| {}).await;
    let (status, _, _) = srv
        .post(
            "/v1/events",
            sensor("r1-late", T0 + 60_000, "navigate", "r1", "erin"),
        )
        .await;
    assert_eq!(status, 202);
    let (_, body) = srv.get("/v1/sessions").await;
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "the restored session continues: {body}");
    assert_eq!(sessions[0]["event_count"], 5);
    srv.stop().await;
}

#[tokio::test]
async fn ocsf_source_accepts_midwatch_output() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), |_| {}).await;
    srv.post("/v1/events", day(2, "o1", "frank", T0)).await;
    let (_, body) = srv.get("/v1/events?identity=frank").await;
    let events = body["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    // Feed midwatch's own OCSF output back under new ids through the OCSF source.
    let lines: Vec<String> = events
        .into_iter()
        .map(|mut e| {
            let id = e["metadata"]["uid"].as_str().unwrap().to_string();
            e["metadata"]["uid"] = Value::String(format!("copy-{id}"));
            e.to_string()
        })
        .collect();
    let (status, report, _) = srv.post("/v1/events?source=ocsf", lines.join("\n")).await;
    assert_eq!(status, 202, "{report}");
    assert_eq!(report["stored"], 2);
    let (status, report, _) = srv
        .post("/v1/events?source=ocsf", "{\"class_uid\": 3002, \"category_uid\": 3, \"activity_id\": 1, \"type_uid\": 300299, \"time\": 1, \"metadata\": {\"uid\": \"bad\"}}")
        .await;
    assert_eq!(status, 400);
    assert!(
        report["rejects"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("type_uid")
    );
    srv.stop().await;
}

#[tokio::test]
async fn queued_batches_commit_together_and_dedupe_across_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (open, gate_rx) = std::sync::mpsc::channel();
    let store = Arc::new(Gated {
        inner: SqliteStore::open(dir.path()).unwrap(),
        gate: Mutex::new(Some(gate_rx)),
    });
    let cfg = Config {
        data_dir: dir.path().to_path_buf(),
        limits: midwatch_server::config::LimitsConfig {
            queue_depth: 8,
            ..Default::default()
        },
        ..Config::default()
    };
    let (state, pipeline) = AppState::with_store(store, Inventory::default(), &cfg).unwrap();
    let srv = Arc::new(Server::run(state, pipeline).await);
    let post = |body: String| {
        let srv = Arc::clone(&srv);
        tokio::spawn(async move { srv.post("/v1/events", body).await })
    };
    // The first batch holds the pipeline; the next two wait in the queue and are then
    // committed as one group, the second repeating the first's ids.
    let a = post(day(2, "g0", "gina", T0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = post(day(3, "g1", "gina", T0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c = post(day(3, "g1", "gina", T0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    open.send(()).unwrap();
    open.send(()).unwrap();
    let (sa, ra, _) = a.await.unwrap();
    let (sb, rb, _) = b.await.unwrap();
    let (sc, rc, _) = c.await.unwrap();
    assert_eq!((sa, sb, sc), (202, 202, 202));
    assert_eq!(ra["stored"], 2);
    assert_eq!(
        (rb["stored"].as_u64(), rb["duplicates"].as_u64()),
        (Some(3), Some(0)),
        "{rb}"
    );
    assert_eq!(
        (rc["stored"].as_u64(), rc["duplicates"].as_u64()),
        (Some(0), Some(3)),
        "{rc}"
    );
    let (_, health) = srv.get("/healthz").await;
    assert_eq!(health["store"]["events"], 5);
    let (_, sessions) = srv.get("/v1/sessions?identity=gina").await;
    let counts: Vec<u64> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["event_count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 5, "{sessions}");
    Arc::try_unwrap(srv).ok().unwrap().stop().await;
}

/// A request body fed by the test through a channel, so a request can be held open.
struct ChannelBody(tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>);

impl futures_core::Stream for ChannelBody {
    type Item = Result<Vec<u8>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::test]
async fn too_many_requests_in_flight_answer_429() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Arc::new(
        Server::start(dir.path(), |c| {
            c.limits.max_inflight_batches = 1;
        })
        .await,
    );
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let slow = {
        let srv = Arc::clone(&srv);
        tokio::spawn(async move {
            let res = srv
                .client
                .post(format!("{}/v1/events", srv.base))
                .body(reqwest::Body::wrap_stream(ChannelBody(rx)))
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        })
    };
    tx.send(Ok(sensor("h1", T0, "login", "h", "hal").into_bytes()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The one slot is taken by the request still being read.
    let (status, body, headers) = srv
        .post("/v1/events", sensor("h2", T0, "login", "h", "hal"))
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "1");
    // Finish the slow body: it is accepted, and the slot is free again.
    tx.send(Ok(b"\n".to_vec())).await.unwrap();
    drop(tx);
    assert_eq!(slow.await.unwrap(), 202);
    let (status, _, _) = srv
        .post("/v1/events", sensor("h2", T0, "login", "h", "hal"))
        .await;
    assert_eq!(status, 202);
    Arc::try_unwrap(srv).ok().unwrap().stop().await;
}

#[tokio::test]
async fn vendor_and_sensor_records_of_one_person_read_as_one_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), |_| {}).await;
    let (status, _, _) = srv
        .post(
            "/v1/identities",
            json!([{"id": "alice@example.com", "aliases": ["alice-gh", "00u1alice"]}]).to_string(),
        )
        .await;
    assert_eq!(status, 200);
    // The browser sensor sees Alice sign in to GitHub and browse.
    let (status, _, _) = srv
        .post(
            "/v1/events?source=sensor",
            day(3, "gh-s", "alice@example.com", T0),
        )
        .await;
    assert_eq!(status, 202);
    // GitHub's audit log records what she did there, under her GitHub handle, with no
    // session id of its own — a clone between two of her page views.
    let audit = [
        json!({"@timestamp": T0 + 1500, "_document_id": "gh-doc-1", "action": "git.clone", "actor": "alice-gh",
               "actor_ip": "198.51.100.7", "repo": "acme/secrets", "org": "acme", "transport_protocol_name": "http"}),
        json!({"@timestamp": T0 + 2500, "_document_id": "gh-doc-2", "action": "repo.download_zip", "actor": "alice-gh",
               "actor_ip": "198.51.100.7", "repo": "acme/secrets", "org": "acme"}),
    ];
    let body: Vec<String> = audit.iter().map(Value::to_string).collect();
    let (status, report, _) = srv.post("/v1/events?source=github", body.join("\n")).await;
    assert_eq!(status, 202, "{report}");
    assert_eq!(report["stored"], 2);

    let (_, body) = srv.get("/v1/sessions?identity=alice@example.com").await;
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{body}");
    assert_eq!(sessions[0]["sources"], json!(["sensor", "github"]));
    let id = sessions[0]["id"].as_str().unwrap();
    let (_, body) = srv.get(&format!("/v1/sessions/{id}")).await;
    let timeline: Vec<(String, String)> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["metadata"]["log_name"].as_str().unwrap().to_string(),
                e["metadata"]["event_code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("sensor", "login"),
        ("sensor", "navigate"),
        ("github", "git.clone"),
        ("sensor", "navigate"),
        ("github", "repo.download_zip"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(timeline, want);
    srv.stop().await;
}

#[tokio::test]
async fn findings_are_served_as_ocsf_and_triaged_with_who_and_when() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let f: midwatch_model::Finding = serde_json::from_value(json!({
            "id": "f-1", "rule": "midwatch.builtin.session_replay", "title": "Session replayed",
            "summary": "second device", "severity": "high", "first_seen": T0, "time": T0 + 5,
            "session_id": "s-1", "identity": "ana@example.com", "evidence": ["e1", "e2"],
            "references": ["attack.t1539"]
        }))
        .unwrap();
        store
            .append(Batch {
                events: &[],
                sessions: &[],
                findings: &[f],
                raw: &[],
                cursors: &[],
            })
            .unwrap();
    }
    let srv = Server::start(dir.path(), |_| {}).await;
    let (status, body) = srv.get("/v1/findings?triage=open&min_severity=high").await;
    assert_eq!(status, 200, "{body}");
    let f = &body["findings"][0];
    assert_eq!(f["class_uid"], 2004);
    assert_eq!(f["finding_info"]["uid"], "f-1");
    assert_eq!(f["finding_info"]["related_events"][1]["uid"], "e2");
    assert_eq!(f["finding_info"]["attacks"][0]["technique"]["uid"], "T1539");
    assert_eq!(f["status"], "open");

    for (bad, why) in [
        ("{", "triage body"),
        (r#"{"state": "closed", "by": "sam"}"#, "`state`"),
        (r#"{"state": "resolved", "by": " "}"#, "`by`"),
        (r#"{"state": "resolved"}"#, "triage body"),
    ] {
        let (status, body, _) = srv.post("/v1/findings/f-1/triage", bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    let (status, _, _) = srv
        .post(
            "/v1/findings/nope/triage",
            r#"{"state": "resolved", "by": "sam"}"#,
        )
        .await;
    assert_eq!(status, 404);

    let (status, body, _) = srv
        .post(
            "/v1/findings/f-1/triage",
            r#"{"state": "false_positive", "by": "sam", "note": "pen test"}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status_id"], 3);
    assert_eq!(body["midwatch"]["triage"]["by"], "sam");
    assert_eq!(body["midwatch"]["triage"]["note"], "pen test");
    assert!(body["midwatch"]["triage"]["at"].as_i64().unwrap() > T0);

    let (_, open) = srv.get("/v1/findings?triage=open,acknowledged").await;
    assert_eq!(open["findings"].as_array().unwrap().len(), 0);
    let (_, one) = srv.get("/v1/findings/f-1").await;
    assert_eq!(one["status"], "false_positive");
    let (status, body) = srv.get("/v1/findings?triage=closed").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = srv.get("/v1/findings/nope").await;
    assert_eq!(status, 404);
    srv.stop().await;
}

#[tokio::test]
async fn simulated_attacks_become_findings_that_raise_session_risk() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), |_| {}).await;
    let out = midwatch_sim::simulate(&midwatch_sim::SimConfig {
        seed: 21,
        users: 12,
        hours: 24,
        ..midwatch_sim::SimConfig::default()
    });
    let inv = serde_json::to_string(&out.inventory.identities).unwrap();
    assert_eq!(srv.post("/v1/identities", inv).await.0, 200);
    let apps = serde_json::to_string(&out.inventory.apps).unwrap();
    assert_eq!(srv.post("/v1/apps", apps).await.0, 200);
    for chunk in out.events.chunks(2000) {
        let (status, body, _) = srv.post("/v1/events", chunk.join("\n")).await;
        assert_eq!(status, 202, "{body}");
    }
    let labels: Vec<midwatch_sim::label::Label> = out
        .labels
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!labels.is_empty());
    let attack_events: std::collections::HashSet<&str> = labels
        .iter()
        .flat_map(|l| l.event_ids.iter().map(String::as_str))
        .collect();

    let (status, body) = srv.get("/v1/findings?min_severity=high&limit=1000").await;
    assert_eq!(status, 200, "{body}");
    let findings = body["findings"].as_array().unwrap();
    assert!(
        !findings.is_empty(),
        "no high finding on a day with attacks"
    );
    for f in findings {
        let evidence: Vec<&str> = f["finding_info"]["related_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["uid"].as_str().unwrap())
            .collect();
        assert!(
            evidence.iter().any(|e| attack_events.contains(e)),
            "high finding outside the labelled attacks: {f}"
        );
    }
    // The finding's session shows it on its timeline, with raised risk.
    let with_session = findings
        .iter()
        .find(|f| f["actor"]["session"]["uid"].is_string())
        .unwrap();
    let sid = with_session["actor"]["session"]["uid"].as_str().unwrap();
    let (status, body) = srv.get(&format!("/v1/sessions/{sid}?limit=5")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["session"]["risk"].as_u64().unwrap() >= 40,
        "{}",
        body["session"]
    );
    assert!(body["session"]["findings"].as_u64().unwrap() >= 1);
    let on_timeline = body["findings"].as_array().unwrap();
    assert!(
        on_timeline
            .iter()
            .any(|f| f["finding_info"]["uid"] == with_session["finding_info"]["uid"])
    );
    let metrics = srv
        .client
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let opened: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("midwatch_findings_opened_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(opened >= findings.len() as u64);
    assert!(metrics.contains("midwatch_detect_state_bytes{detector=\"correlations\"}"));
    srv.stop().await;
}
