//! The evidence log behind a running server: every ingested event and admin action is in the
//! chain, `/v1/evidence/*` answers keys, search, verify, export and erase, garbage is refused,
//! and a restart continues the same log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_evidence::verify::{Options, verify_dir};
use midwatch_server::{AppState, Config};
use serde_json::{Value, json};

struct Server {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pipeline: Option<midwatch_server::PipelineHandle>,
}

impl Server {
    async fn start(cfg: &Config) -> Server {
        let (state, pipeline) = AppState::open(cfg).unwrap();
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
        midwatch_connectors::install_tls_provider();
        Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
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

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Vec<u8>) {
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, b) = self
            .send(self.client.get(format!("{}{path}", self.base)))
            .await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: String) -> (u16, Value) {
        let (s, b) = self
            .send(self.client.post(format!("{}{path}", self.base)).body(body))
            .await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}

const T0: i64 = 1_767_600_000_000;

fn sensor(id: &str, t: i64, kind: &str, sid: &str, who: &str, url: &str) -> String {
    json!({
        "id": id, "ts": t, "type": kind,
        "identity": {"id": who},
        "session": {"id": sid},
        "app": {"domain": "files.example.com", "name": "Files"},
        "url": url,
        "device": {"id": "laptop-1", "managed": true, "user_agent": "Mozilla/5.0"},
        "network": {"ip": "198.51.100.7", "asn": 64500, "country": "PT"},
    })
    .to_string()
}

fn batch(who: &str, sid: &str, n: usize, t0: i64) -> String {
    (0..n)
        .map(|i| {
            sensor(
                &format!("{sid}-{i}"),
                t0 + i as i64 * 1000,
                if i == 0 { "login" } else { "navigate" },
                sid,
                who,
                &format!("https://files.example.com/doc/{i}?token=abc&x=1"),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn config(dir: &std::path::Path) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    cfg.sessions.wall_clock_sweep = false;
    cfg.evidence.anchor_file = Some(dir.join("anchor.log"));
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_in_the_chain_and_the_api_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let srv = Server::start(&cfg).await;
    let (s, r) = srv
        .post(
            "/v1/events?source=sensor",
            batch("ana@example.com", "tab-a", 12, T0),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    let (s, r) = srv
        .post(
            "/v1/events?source=sensor",
            batch("bo@example.com", "tab-b", 5, T0),
        )
        .await;
    assert_eq!(s, 202, "{r}");

    let (s, keys) = srv.get("/v1/evidence/keys").await;
    assert_eq!(s, 200);
    assert_eq!(keys["algorithm"], "Ed25519");
    let public = keys["public_key"].as_str().unwrap().to_string();
    assert_eq!(public.len(), 64);
    assert!(keys["last_seq"].as_u64().unwrap() >= 17);

    let (s, page) = srv
        .get("/v1/evidence/search?identity=ana@example.com&kind=event&limit=100")
        .await;
    assert_eq!(s, 200, "{page}");
    let hits = page["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 12, "{page}");
    // Newest first, payloads readable, query strings dropped by default.
    assert!(
        hits.windows(2)
            .all(|w| w[0]["seq"].as_u64() > w[1]["seq"].as_u64())
    );
    let url = hits[0]["payload"]["http_request"]["url"]["url_string"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!url.contains('?') && !url.contains("token"), "{url}");
    let session = hits[0]["session"].as_str().unwrap().to_string();
    assert!(!session.is_empty());

    let (s, page) = srv.get("/v1/evidence/search?text=doc&limit=3").await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["hits"].as_array().unwrap().len(), 3);
    assert!(page["next"].as_u64().is_some());

    let (s, report) = srv.get("/v1/evidence/verify").await;
    assert_eq!(s, 200);
    assert_eq!(report["status"], "intact", "{report}");

    // Export the session and verify it offline against the published key.
    let (s, bytes) = srv
        .send(
            srv.client
                .get(format!("{}/v1/evidence/export?session={session}", srv.base)),
        )
        .await;
    assert_eq!(s, 200);
    let bundle = dir.path().join("bundle.tar");
    std::fs::write(&bundle, &bytes).unwrap();
    let pinned = Options {
        trusted_key: midwatch_evidence::codec::unhex::<32>(&public),
        ..Options::default()
    };
    let r = midwatch_evidence::bundle::verify_bundle(&bundle, &pinned);
    assert_eq!(r.status, midwatch_evidence::Status::Intact, "{r:?}");
    let recs = midwatch_evidence::bundle::read_records(&bundle).unwrap();
    assert_eq!(recs.iter().filter(|h| h.kind == "event").count(), 12);
    assert!(recs.iter().all(|h| h.session == session), "{recs:?}");
    assert_eq!(r.records as usize, recs.len());

    // Erase ana: her payloads become unreadable, the log still verifies.
    let (s, r) = srv
        .post(
            "/v1/evidence/erase",
            json!({"identity": "ana@example.com", "by": "dpo@example.com"}).to_string(),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["erased"], true);
    let (_, page) = srv
        .get("/v1/evidence/search?identity=ana@example.com&kind=event")
        .await;
    assert!(
        page["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["erased"] == true && h.get("payload").is_none()),
        "{page}"
    );
    let (_, page) = srv.get("/v1/evidence/search?action=erase").await;
    assert_eq!(page["hits"][0]["kind"], "admin", "{page}");
    let (_, page) = srv
        .get("/v1/evidence/search?identity=bo@example.com&kind=event")
        .await;
    assert!(page["hits"][0]["payload"].is_object(), "{page}");
    let (_, report) = srv.get("/v1/evidence/verify").await;
    assert_eq!(report["status"], "intact", "{report}");
    srv.stop().await;

    // Offline, after a restart of the server, the same log continues and verifies, anchor
    // included.
    let opts = Options {
        anchor: Some(dir.path().join("anchor.log")),
        ..Options::default()
    };
    let r = verify_dir(&dir.path().join("evidence"), &opts);
    assert_eq!(r.status, midwatch_evidence::Status::Intact, "{r:?}");
    let before = r.last_seq;
    let srv = Server::start(&cfg).await;
    let (s, _) = srv
        .post(
            "/v1/events?source=sensor",
            batch("cy@example.com", "tab-c", 3, T0 + 60_000),
        )
        .await;
    assert_eq!(s, 202);
    let (_, keys) = srv.get("/v1/evidence/keys").await;
    assert_eq!(keys["public_key"], public.as_str());
    assert!(keys["last_seq"].as_u64().unwrap() >= before + 3, "{keys}");
    srv.stop().await;
    let r = verify_dir(&dir.path().join("evidence"), &opts);
    assert_eq!(r.status, midwatch_evidence::Status::Intact, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_to_the_evidence_api_is_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(&config(dir.path())).await;
    for (path, needle) in [
        ("/v1/evidence/search?limit=0", "limit"),
        ("/v1/evidence/search?limit=100000", "limit"),
        ("/v1/evidence/search?kind=banana", "kind"),
        ("/v1/evidence/search?since=yesterday", "since"),
        ("/v1/evidence/search?colour=red", "colour"),
        ("/v1/evidence/search?since=10&until=5", "since"),
        ("/v1/evidence/export", "select"),
    ] {
        let (s, body) = srv.get(path).await;
        assert_eq!(s, 400, "{path}: {body}");
        assert!(body.to_string().contains(needle), "{path}: {body}");
    }
    let (s, body) = srv.get("/v1/evidence/export?session=nope").await;
    assert_eq!(s, 404, "{body}");
    for body in [
        "",
        "{",
        "[]",
        r#"{"identity":"x"}"#,
        r#"{"identity":"","by":"me"}"#,
    ] {
        let (s, r) = srv.post("/v1/evidence/erase", body.into()).await;
        assert_eq!(s, 400, "{body}: {r}");
        assert_eq!(r["error"]["code"], "bad_body", "{body}: {r}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_evidence_off_the_api_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.evidence.enabled = false;
    let srv = Server::start(&cfg).await;
    let (s, body) = srv.get("/v1/evidence/keys").await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["error"]["code"], "evidence_disabled");
    srv.stop().await;
    assert!(!dir.path().join("evidence").exists());
}
