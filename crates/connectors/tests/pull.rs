//! Each connector against a local server that answers like the vendor's API (paging,
//! rate-limit and error answers), including a kill and a resume from the saved cursor.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use midwatch_connectors::{Connector, ConnectorConfig, Sink};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T0: i64 = 1_767_600_000_000;

#[derive(Clone, Default)]
struct Mock {
    kind: &'static str,
    records: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<Vec<String>>>,
    base: Arc<Mutex<String>>,
}

fn iso(ms: i64) -> String {
    midwatch_model::timefmt::format_ms(ms)
}

fn record(kind: &str, i: usize) -> Value {
    let t = T0 + i as i64 * 1000;
    match kind {
        "okta" => {
            json!({"uuid": format!("okta-{i}"), "published": iso(t), "eventType": "user.session.start"})
        }
        "entra" => {
            json!({"id": format!("entra-{i}"), "createdDateTime": iso(t), "userPrincipalName": "a@x"})
        }
        "github" => {
            json!({"_document_id": format!("gh-{i}"), "@timestamp": t, "action": "git.clone"})
        }
        _ => {
            json!({"id": {"uniqueQualifier": format!("gws-{i}"), "time": iso(t), "applicationName": "login"}, "events": [{"name": "login_success"}]})
        }
    }
}

fn id_of(kind: &str, v: &Value) -> String {
    match kind {
        "okta" => v["uuid"].as_str().unwrap().to_string(),
        "entra" => v["id"].as_str().unwrap().to_string(),
        "github" => v["_document_id"].as_str().unwrap().to_string(),
        _ => v["id"]["uniqueQualifier"].as_str().unwrap().to_string(),
    }
}

fn time_of(kind: &str, v: &Value) -> i64 {
    match kind {
        "okta" => {
            midwatch_model::timefmt::parse_rfc3339_ms(v["published"].as_str().unwrap()).unwrap()
        }
        "entra" => {
            midwatch_model::timefmt::parse_rfc3339_ms(v["createdDateTime"].as_str().unwrap())
                .unwrap()
        }
        "github" => v["@timestamp"].as_i64().unwrap(),
        _ => midwatch_model::timefmt::parse_rfc3339_ms(v["id"]["time"].as_str().unwrap()).unwrap(),
    }
}

/// Request 2 is rate-limited and request 4 fails with a 500, as real APIs do now and then.
fn trouble(mock: &Mock, n: usize) -> Option<Response> {
    let reset = (midwatch_model::timefmt::now_ms() / 1000 + 1).to_string();
    match n {
        2 => {
            let mut h = HeaderMap::new();
            for name in ["x-rate-limit-remaining", "x-ratelimit-remaining"] {
                h.insert(name, HeaderValue::from_static("0"));
            }
            for name in ["x-rate-limit-reset", "x-ratelimit-reset"] {
                h.insert(name, HeaderValue::from_str(&reset).unwrap());
            }
            h.insert("retry-after", HeaderValue::from_static("1"));
            let _ = mock;
            Some(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    h,
                    "{\"errorCode\":\"E0000047\"}",
                )
                    .into_response(),
            )
        }
        4 => Some((StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response()),
        _ => None,
    }
}

async fn handler(
    State(mock): State<Mock>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let n = {
        let mut r = mock.requests.lock().unwrap();
        r.push(uri.to_string());
        r.len()
    };
    if let Some(res) = trouble(&mock, n) {
        return res;
    }
    let records = mock.records.lock().unwrap().clone();
    let base = mock.base.lock().unwrap().clone();
    let kind = mock.kind;
    // Start index: an explicit position token, else the first record at/after the time.
    let from_time = |t: i64, inclusive: bool| {
        records
            .iter()
            .position(|r| {
                if inclusive {
                    time_of(kind, r) >= t
                } else {
                    time_of(kind, r) > t
                }
            })
            .unwrap_or(records.len())
    };
    let parse_t = |s: &str| midwatch_model::timefmt::parse_rfc3339_ms(s).unwrap();
    let (start, size) = match kind {
        "okta" => {
            let size: usize = q["limit"].parse().unwrap();
            let start = match q.get("after") {
                Some(a) => a.parse().unwrap(),
                None => from_time(parse_t(&q["since"]), true),
            };
            (start, size)
        }
        "entra" => {
            let size: usize = q["$top"].parse().unwrap();
            let start = match q.get("$skiptoken") {
                Some(a) => a.parse().unwrap(),
                None => {
                    let f = &q["$filter"];
                    let (op, t) = f
                        .strip_prefix("createdDateTime ")
                        .unwrap()
                        .split_once(' ')
                        .unwrap();
                    from_time(parse_t(t), op == "ge")
                }
            };
            (start, size)
        }
        "github" => {
            let size: usize = q["per_page"].parse().unwrap();
            let start = match q.get("after") {
                Some(a) => a.parse().unwrap(),
                None => from_time(
                    parse_t(q["phrase"].strip_prefix("created:>=").unwrap()),
                    true,
                ),
            };
            (start, size)
        }
        _ => {
            let size: usize = q["maxResults"].parse().unwrap();
            let start = match q.get("pageToken") {
                Some(a) => a.parse().unwrap(),
                None => from_time(parse_t(&q["startTime"]), true),
            };
            (start, size)
        }
    };
    let end = (start + size).min(records.len());
    let page: Vec<Value> = records[start.min(end)..end].to_vec();
    let more = end < records.len();
    let mut headers = HeaderMap::new();
    headers.insert("x-rate-limit-remaining", HeaderValue::from_static("100"));
    match kind {
        "okta" => {
            // Okta always links onward, even when caught up.
            let link = format!("<{base}/api/v1/logs?limit={size}&after={end}>; rel=\"next\"");
            headers.insert("link", HeaderValue::from_str(&link).unwrap());
            (headers, axum::Json(Value::Array(page))).into_response()
        }
        "entra" => {
            let mut body = json!({"@odata.context": "https://graph/$metadata#auditLogs/signIns", "value": page});
            if more {
                body["@odata.nextLink"] = json!(format!(
                    "{base}/v1.0/auditLogs/signIns?$top={size}&$skiptoken={end}"
                ));
            }
            axum::Json(body).into_response()
        }
        "github" => {
            if more {
                let link = format!(
                    "<{base}/orgs/acme/audit-log?per_page={size}&after={end}>; rel=\"next\""
                );
                headers.insert("link", HeaderValue::from_str(&link).unwrap());
            }
            (headers, axum::Json(Value::Array(page))).into_response()
        }
        _ => {
            let mut body = json!({"kind": "admin#reports#activities", "items": page});
            if more {
                body["nextPageToken"] = json!(end.to_string());
            }
            axum::Json(body).into_response()
        }
    }
}

async fn start_mock(kind: &'static str, n: usize) -> (Mock, String) {
    let mock = Mock {
        kind,
        ..Mock::default()
    };
    mock.records
        .lock()
        .unwrap()
        .extend((0..n).map(|i| record(kind, i)));
    let app = axum::Router::new()
        .fallback(get(handler))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *mock.base.lock().unwrap() = base.clone();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (mock, base)
}

/// Records and cursor committed together, like the store does.
#[derive(Clone, Default)]
struct Committed {
    inner: Arc<Mutex<(Vec<String>, Option<String>)>>,
    kind: &'static str,
}

impl Sink for Committed {
    async fn deliver(&mut self, records: Vec<Vec<u8>>, cursor: String) -> Result<(), String> {
        let mut g = self.inner.lock().unwrap();
        for r in records {
            let v: Value = serde_json::from_slice(&r).map_err(|e| e.to_string())?;
            g.0.push(id_of(self.kind, &v));
        }
        g.1 = Some(cursor);
        Ok(())
    }
}

fn config(kind: &str, base: &str) -> ConnectorConfig {
    let kind_name = match kind {
        "entra" => "entra-signin",
        k => k,
    };
    serde_json::from_value(json!({
        "name": format!("{kind}-test"), "kind": kind_name, "base_url": base, "token": "test-token",
        "org": "acme", "application": "login", "since": iso(T0 - 60_000), "page_size": 7, "poll_ms": 20
    }))
    .unwrap()
}

async fn run_until(
    conn: Connector,
    sink: Committed,
    want: usize,
    cursor: Option<String>,
) -> Committed {
    let mut s = sink.clone();
    let task = tokio::spawn(async move {
        let _ = conn.run(cursor.as_deref(), &mut s).await;
    });
    for _ in 0..400 {
        let distinct = {
            let g = sink.inner.lock().unwrap();
            let mut ids = g.0.clone();
            ids.sort();
            ids.dedup();
            ids.len()
        };
        if distinct >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    task.abort();
    let _ = task.await;
    sink
}

async fn pull_kill_resume(kind: &'static str, exact: bool) {
    let (mock, base) = start_mock(kind, 30).await;
    let mut conn = Connector::new(config(kind, &base)).unwrap();
    conn.max_backoff = Duration::from_millis(1500);
    // First run: stopped ("killed") once 20 records are stored.
    let sink = Committed {
        kind,
        ..Committed::default()
    };
    let first = run_until(conn, sink, 20, None).await;
    let (ids_a, cursor) = first.inner.lock().unwrap().clone();
    assert!(ids_a.len() >= 20, "{kind}: {ids_a:?}");
    let cursor = cursor.expect("a cursor was committed");
    // More records arrive at the vendor while the connector is down.
    mock.records
        .lock()
        .unwrap()
        .extend((30..45).map(|i| record(kind, i)));
    // Second run resumes from the stored cursor.
    let mut conn = Connector::new(config(kind, &base)).unwrap();
    conn.max_backoff = Duration::from_millis(1500);
    let sink = Committed {
        kind,
        ..Committed::default()
    };
    let second = run_until(conn, sink, 45 - ids_a.len(), Some(cursor)).await;
    let ids_b = second.inner.lock().unwrap().0.clone();
    let all: Vec<String> = ids_a.iter().chain(ids_b.iter()).cloned().collect();
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 45, "{kind}: no gap: {all:?}");
    if exact {
        assert_eq!(all.len(), 45, "{kind}: no record delivered twice: {all:?}");
    }
    // The resumed run did not start over.
    // The rate-limited and failed requests (2 and 4) were retried, not skipped.
    assert!(mock.requests.lock().unwrap().len() > 6, "{kind}");
    let first_of_second = ids_b.first().cloned().unwrap_or_default();
    assert_ne!(
        first_of_second,
        id_of(kind, &record(kind, 0)),
        "{kind}: resumed from the start"
    );
}

#[tokio::test]
async fn okta_pages_by_link_header_and_resumes() {
    pull_kill_resume("okta", true).await;
}

#[tokio::test]
async fn entra_pages_by_next_link_and_resumes() {
    pull_kill_resume("entra", true).await;
}

#[tokio::test]
async fn github_pages_by_cursor_and_resumes() {
    // Rounds restart at the newest time delivered, inclusive: the store drops the repeat.
    pull_kill_resume("github", false).await;
}

#[tokio::test]
async fn gws_pages_by_page_token_and_resumes() {
    pull_kill_resume("gws", false).await;
}

#[tokio::test]
async fn https_endpoints_are_reached_with_verified_tls() {
    // No network here: an https origin on loopback with no TLS server refuses the
    // connection; what matters is that the client is built with TLS support and tries.
    let cfg = config("okta", "https://127.0.0.1:9");
    let conn = Connector::new(cfg).unwrap();
    let fetch = tokio::time::timeout(
        Duration::from_millis(1500),
        conn.fetch(&midwatch_connectors::Cursor::default()),
    )
    .await;
    assert!(
        fetch.is_err(),
        "unreachable endpoints are retried, not reported as refusals"
    );
}

#[tokio::test]
async fn refusals_and_bad_settings_are_errors() {
    let app = axum::Router::new().fallback(get(|| async {
        (
            StatusCode::UNAUTHORIZED,
            "{\"errorSummary\":\"Invalid token provided\"}",
        )
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let conn = Connector::new(config("okta", &base)).unwrap();
    let mut sink = Committed {
        kind: "okta",
        ..Committed::default()
    };
    let err = conn.run(None, &mut sink).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert!(!err.to_string().contains("test-token"));

    let mut cfg = config("okta", &base);
    cfg.token = None;
    cfg.token_env = Some("MIDWATCH_TEST_TOKEN_THAT_IS_NOT_SET".into());
    assert!(
        Connector::new(cfg)
            .unwrap_err()
            .to_string()
            .contains("not set")
    );
    let mut cfg = config("github", &base);
    cfg.org = None;
    assert!(Connector::new(cfg).is_err());
    // A next link pointing at another host is not followed with the token.
    let conn = Connector::new(config("okta", &base)).unwrap();
    let cursor = midwatch_connectors::Cursor {
        next: Some("http://127.0.0.2:9/api/v1/logs?after=1".into()),
        ..Default::default()
    };
    let err = conn.fetch(&cursor).await.unwrap_err();
    assert!(err.to_string().contains("not sending the token"), "{err}");
}
