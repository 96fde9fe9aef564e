//! The midwatch HTTP server: ingest, query, inventory, health and metrics.
//!
//! [`app`] builds the router from an [`AppState`]; `main` only binds a socket and calls
//! [`serve`]. Only this crate knows HTTP: handlers parse query strings and bodies, apply
//! limits, and turn every failure into one stable JSON error shape ([`ApiError`]).

pub mod config;
pub mod connectors;
pub mod demo;
pub mod error;
pub mod evidence;
pub mod metrics;
pub mod pipeline;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use midwatch_model::timefmt::{now_ms, parse_rfc3339_ms};
use midwatch_model::{
    App, Finding, Identity, Inventory, SessionState, Severity, Triage, TriageState,
};
use midwatch_store::{EventQuery, FindingQuery, SessionQuery, SqliteStore, Store};
use pipeline::{Command, Committed, Pipeline, SendError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::oneshot;

pub use config::Config;
pub use error::ApiError;
pub use metrics::Metrics;

/// Shared state of a running server.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
    limits: config::LimitsConfig,
    queue_capacity: usize,
    inflight: Arc<tokio::sync::Semaphore>,
    evidence: Option<Arc<evidence::Evidence>>,
    /// The anchor URL and its queue, taken by [`serve_with`].
    anchor: std::sync::Mutex<Option<(String, evidence::AnchorQueue)>>,
}

/// A running pipeline thread; join it after the last [`AppState`] clone is dropped.
#[derive(Debug)]
pub struct PipelineHandle(std::thread::JoinHandle<()>);

impl PipelineHandle {
    /// Wait for the pipeline to drain and persist.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration or inventory.
    #[error("{0}")]
    Config(String),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] midwatch_store::StoreError),
    /// The socket could not be bound or served.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl AppState {
    /// Open the store in the configured data directory, load the inventory (from the store,
    /// then the configured file on top), and start the pipeline.
    pub fn open(cfg: &Config) -> Result<(AppState, PipelineHandle), StartError> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&cfg.data_dir)?);
        let mut doc = midwatch_model::inventory::InventoryDoc {
            identities: store.identities()?,
            apps: store.apps()?,
        };
        if let Some(path) = &cfg.inventory {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError::Config(format!("inventory `{}`: {e}", path.display())))?;
            let file = midwatch_model::inventory::InventoryDoc::parse(&text)
                .map_err(|e| StartError::Config(format!("inventory `{}`: {e}", path.display())))?;
            store.put_identities(&file.identities)?;
            store.put_apps(&file.apps)?;
            doc.identities.extend(file.identities);
            doc.apps.extend(file.apps);
        }
        let inventory =
            Inventory::from_doc(doc).map_err(|e| StartError::Config(format!("inventory: {e}")))?;
        Self::with_store(store, inventory, cfg)
    }

    /// Start over an already opened store.
    pub fn with_store(
        store: Arc<dyn Store>,
        inventory: Inventory,
        cfg: &Config,
    ) -> Result<(AppState, PipelineHandle), StartError> {
        let stitch = cfg
            .stitching()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let detection = cfg
            .detection()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let settings = cfg
            .evidence()
            .map_err(|e| StartError::Config(e.to_string()))?;
        let (evidence, anchor) = match settings {
            Some(s) => {
                let url = s.anchor_url.clone();
                let (ev, queue) = evidence::Evidence::open(s)?;
                (Some(Arc::new(ev)), url.zip(queue))
            }
            None => (None, None),
        };
        let metrics = Arc::new(Metrics::default());
        let (pipeline, handle) = Pipeline::start(
            Arc::clone(&store),
            inventory,
            stitch,
            detection,
            evidence.clone(),
            cfg.limits.queue_depth,
            Arc::clone(&metrics),
        )?;
        let state = AppState {
            inner: Arc::new(Inner {
                store,
                pipeline,
                metrics,
                limits: cfg.limits,
                queue_capacity: cfg.limits.queue_depth,
                inflight: Arc::new(tokio::sync::Semaphore::new(cfg.limits.max_inflight_batches)),
                evidence,
                anchor: std::sync::Mutex::new(anchor),
            }),
        };
        Ok((state, PipelineHandle(handle)))
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The evidence log, when on.
    pub fn evidence(&self) -> Option<&Arc<evidence::Evidence>> {
        self.inner.evidence.as_ref()
    }

    /// Ask the pipeline to close sessions timed out as of `now` (event time).
    pub fn sweep(&self, now: i64) {
        let _ = self.inner.pipeline.try_send(Command::Sweep(now));
    }

    /// Ingest one batch body from `source`: the same path `POST /v1/events` takes.
    /// `wait` queues even when the pipeline is busy (in-process callers such as the demo);
    /// HTTP callers get 429 instead.
    pub async fn ingest(
        &self,
        source_name: &str,
        body: Bytes,
        wait: bool,
    ) -> Result<(StatusCode, IngestReport), ApiError> {
        let source = midwatch_sources::by_name(source_name).ok_or_else(|| {
            ApiError::bad_request(
                "unknown_source",
                format!(
                    "source `{source_name}` is not one of {}",
                    midwatch_sources::names().join(", ")
                ),
            )
        })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "empty_body",
                "the request body holds no records",
            ));
        }
        let limits = self.inner.limits.framing();
        let out = if body.len() > 64 * 1024 {
            tokio::task::spawn_blocking(move || {
                midwatch_sources::normalize_body(source, body, &limits)
            })
            .await
            .map_err(|_| ApiError::internal("normalization stopped unexpectedly"))?
        } else {
            midwatch_sources::normalize_body(source, body, &limits)
        };
        if out.over_limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_records",
                format!(
                    "the batch holds more than {} records; split it",
                    limits.max_records
                ),
            ));
        }
        self.inner.metrics.normalized(
            source_name,
            out.events.len(),
            out.rejects.len(),
            out.skipped.len(),
        );
        let accepted = out.events.len();
        let mut report = IngestReport {
            accepted,
            stored: 0,
            duplicates: 0,
            rejected: out.rejects.len(),
            skipped: out.skipped.len(),
            rejects: out.rejects,
            skips: out.skipped,
        };
        if accepted == 0 {
            return Ok((StatusCode::BAD_REQUEST, report));
        }
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Events(out.events, out.raw, Vec::new(), tx);
        let sent = if wait {
            self.inner.pipeline.send(cmd).await
        } else {
            self.inner.pipeline.try_send(cmd)
        };
        match sent {
            Ok(()) => {}
            Err(SendError::Full) => {
                self.inner.metrics.throttled();
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "busy",
                    "the ingest queue is full; retry after the delay in `Retry-After`",
                )
                .retry_after(1));
            }
            Err(SendError::Closed) => {
                return Err(ApiError::unavailable("the ingest pipeline has stopped"));
            }
        }
        let committed: Committed = rx
            .await
            .map_err(|_| ApiError::unavailable("the ingest pipeline has stopped"))?
            .map_err(|e| ApiError::unavailable(format!("the batch was not stored: {e}")))?;
        report.stored = committed.stored;
        report.duplicates = committed.duplicates;
        Ok((StatusCode::ACCEPTED, report))
    }

    /// Add or replace inventory entries.
    pub async fn put_inventory(
        &self,
        identities: Vec<Identity>,
        apps: Vec<App>,
    ) -> Result<(), ApiError> {
        for i in &identities {
            i.validate()
                .map_err(|e| ApiError::bad_request("invalid_identity", e.to_string()))?;
        }
        for a in &apps {
            a.validate()
                .map_err(|e| ApiError::bad_request("invalid_app", e.to_string()))?;
        }
        let (reply, rx) = oneshot::channel();
        self.inner
            .pipeline
            .send(Command::Inventory {
                identities,
                apps,
                reply,
            })
            .await
            .map_err(|_| ApiError::unavailable("the ingest pipeline has stopped"))?;
        rx.await
            .map_err(|_| ApiError::unavailable("the ingest pipeline has stopped"))?
            .map_err(|e| ApiError::bad_request("invalid_inventory", e))
    }
}

/// The answer to an ingest batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestReport {
    /// Records that normalized into events.
    pub accepted: usize,
    /// Events newly stored.
    pub stored: usize,
    /// Events already stored before (same id), not stored again.
    pub duplicates: usize,
    /// Records rejected.
    pub rejected: usize,
    /// Records skipped on purpose (not events).
    pub skipped: usize,
    /// Line and reason of each rejected record.
    pub rejects: Vec<midwatch_sources::Reject>,
    /// Line and note of each skipped record.
    pub skips: Vec<midwatch_sources::Reject>,
}

/// Build the router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/events", post(post_events).get(get_events))
        .route("/v1/sessions", get(get_sessions))
        .route("/v1/sessions/{id}", get(get_session))
        .route("/v1/identities", get(get_identities).post(post_identities))
        .route("/v1/apps", get(get_apps).post(post_apps))
        .route("/v1/findings", get(get_findings))
        .route("/v1/findings/{id}", get(get_finding))
        .route("/v1/findings/{id}/triage", post(post_triage))
        .route("/v1/raw/{sha256}", get(get_raw))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(evidence::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn count_requests(
    State(state): State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let res = next.run(req).await;
    state.inner.metrics.request(&route, res.status().as_u16());
    res
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Read a request body up to the configured limit, answering 413 past it.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = state.inner.limits.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over the limit of {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            "compressed bodies are not accepted; send plain NDJSON or JSON",
        ));
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

#[derive(Debug, Deserialize)]
struct IngestParams {
    source: Option<String>,
}

async fn post_events(
    State(state): State<AppState>,
    params: Result<Query<IngestParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    // Bound the bodies held in memory at once: past the limit, ask the client to come back.
    let Ok(_permit) = Arc::clone(&state.inner.inflight).try_acquire_owned() else {
        state.inner.metrics.throttled();
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "too many ingest requests in flight; retry after the delay in `Retry-After`",
        )
        .retry_after(1));
    };
    let bytes = read_body(&state, &headers, body).await?;
    let source = params.source.as_deref().unwrap_or("sensor");
    let (status, report) = state.ingest(source, bytes, false).await?;
    Ok((status, axum::Json(report)).into_response())
}

/// Parse `since`/`until`: RFC 3339 or epoch milliseconds.
fn parse_time(name: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    if let Ok(n) = v.parse::<i64>() {
        return Ok(Some(n));
    }
    parse_rfc3339_ms(v).map(Some).ok_or_else(|| {
        ApiError::bad_request(
            "bad_query",
            format!("`{name}`: `{v}` is not an RFC 3339 time or epoch milliseconds"),
        )
    })
}

fn parse_limit(v: Option<usize>) -> Result<usize, ApiError> {
    match v {
        Some(0) => Err(ApiError::bad_request(
            "bad_query",
            "`limit` must be at least 1",
        )),
        Some(n) if n > midwatch_store::sqlite::MAX_PAGE => Err(ApiError::bad_request(
            "bad_query",
            format!(
                "`limit` must be at most {}",
                midwatch_store::sqlite::MAX_PAGE
            ),
        )),
        Some(n) => Ok(n),
        None => Ok(100),
    }
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query<T>(q: QueryResult<T>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::bad_request("bad_query", e.body_text()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, midwatch_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("query stopped unexpectedly"))?
        .map_err(ApiError::from)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionParams {
    identity: Option<String>,
    app: Option<String>,
    state: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn get_sessions(
    State(state): State<AppState>,
    q: QueryResult<SessionParams>,
) -> Result<Response, ApiError> {
    let p = query(q)?;
    let st = match p.state.as_deref() {
        None => None,
        Some(s) => Some(SessionState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "bad_query",
                format!("`state`: `{s}` is not one of active, stepped_up, restricted, terminated, closed"),
            )
        })?),
    };
    let q = SessionQuery {
        identity: p.identity,
        app: p.app,
        state: st,
        since: parse_time("since", p.since.as_deref())?,
        until: parse_time("until", p.until.as_deref())?,
        limit: parse_limit(p.limit)?,
        cursor: p.cursor,
    };
    let store = Arc::clone(&state.inner.store);
    let page = blocking(move || store.sessions(&q)).await?;
    Ok(
        axum::Json(json!({"sessions": page.items, "next_cursor": page.next_cursor}))
            .into_response(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: QueryResult<TimelineParams>,
) -> Result<Response, ApiError> {
    let p = query(q)?;
    let limit = parse_limit(p.limit.or(Some(1000)))?;
    let store = Arc::clone(&state.inner.store);
    let (session, events, findings) = blocking(move || {
        let Some(session) = store.session(&id)? else {
            return Ok((None, None, None));
        };
        let events = store.events(&EventQuery {
            session: Some(id.clone()),
            limit,
            cursor: p.cursor,
            ..EventQuery::default()
        })?;
        let findings = store.findings(&FindingQuery {
            session: Some(id),
            limit: 1000,
            ..FindingQuery::default()
        })?;
        Ok((Some(session), Some(events), Some(findings)))
    })
    .await?;
    let (Some(session), Some(events), Some(findings)) = (session, events, findings) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such session",
        ));
    };
    Ok(axum::Json(json!({
        "session": session,
        "events": events.items,
        "next_cursor": events.next_cursor,
        "findings": findings.items.iter().map(Finding::to_ocsf).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventParams {
    session: Option<String>,
    identity: Option<String>,
    app: Option<String>,
    class_uid: Option<u32>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn get_events(
    State(state): State<AppState>,
    q: QueryResult<EventParams>,
) -> Result<Response, ApiError> {
    let p = query(q)?;
    let q = EventQuery {
        session: p.session,
        identity: p.identity,
        app: p.app,
        class_uid: p.class_uid,
        since: parse_time("since", p.since.as_deref())?,
        until: parse_time("until", p.until.as_deref())?,
        limit: parse_limit(p.limit)?,
        cursor: p.cursor,
    };
    let store = Arc::clone(&state.inner.store);
    let page = blocking(move || store.events(&q)).await?;
    Ok(axum::Json(json!({"events": page.items, "next_cursor": page.next_cursor})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingParams {
    session: Option<String>,
    identity: Option<String>,
    rule: Option<String>,
    /// Comma-separated triage states.
    triage: Option<String>,
    min_severity: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn get_findings(
    State(state): State<AppState>,
    q: QueryResult<FindingParams>,
) -> Result<Response, ApiError> {
    let p = query(q)?;
    let triage = match p.triage.as_deref() {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|t| {
                TriageState::parse(t.trim()).ok_or_else(|| {
                    ApiError::bad_request(
                        "bad_query",
                        format!(
                            "`triage`: `{t}` is not one of open, acknowledged, resolved, false_positive"
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let min_severity = match p.min_severity.as_deref() {
        None => None,
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "bad_query",
                format!(
                    "`min_severity`: `{s}` is not one of informational, low, medium, high, critical"
                ),
            )
        })?),
    };
    let q = FindingQuery {
        session: p.session,
        identity: p.identity,
        rule: p.rule,
        triage,
        min_severity,
        limit: parse_limit(p.limit)?,
        cursor: p.cursor,
    };
    let store = Arc::clone(&state.inner.store);
    let page = blocking(move || store.findings(&q)).await?;
    let items: Vec<_> = page.items.iter().map(Finding::to_ocsf).collect();
    Ok(axum::Json(json!({"findings": items, "next_cursor": page.next_cursor})).into_response())
}

async fn get_finding(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = Arc::clone(&state.inner.store);
    match blocking(move || store.finding(&id)).await? {
        Some(f) => Ok(axum::Json(f.to_ocsf()).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such finding",
        )),
    }
}

/// Body of `POST /v1/findings/{id}/triage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriageBody {
    state: String,
    by: String,
    #[serde(default)]
    note: Option<String>,
}

async fn post_triage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let body: TriageBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "bad_body",
            format!("triage body: {e} (expected {{\"state\", \"by\", \"note\"?}})"),
        )
    })?;
    let triage_state = TriageState::parse(body.state.trim()).ok_or_else(|| {
        ApiError::bad_request(
            "bad_body",
            format!(
                "`state`: `{}` is not one of open, acknowledged, resolved, false_positive",
                body.state
            ),
        )
    })?;
    if body.by.trim().is_empty() {
        return Err(ApiError::bad_request(
            "bad_body",
            "`by`: say who is triaging",
        ));
    }
    let triage = Triage {
        state: triage_state,
        by: Some(body.by),
        at: Some(midwatch_model::timefmt::now_ms()),
        note: body.note,
    };
    let (reply, rx) = tokio::sync::oneshot::channel();
    state
        .inner
        .pipeline
        .send(Command::Triage { id, triage, reply })
        .await
        .map_err(|_| ApiError::unavailable("the ingest pipeline has stopped"))?;
    match rx
        .await
        .map_err(|_| ApiError::unavailable("the ingest pipeline has stopped"))?
    {
        Ok(Some(f)) => Ok(axum::Json(f.to_ocsf()).into_response()),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such finding",
        )),
        Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e)),
    }
}

async fn get_raw(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    if !midwatch_model::hash::is_sha256_hex(&sha256) {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("`{sha256}` is not a SHA-256 in hex"),
        ));
    }
    let store = Arc::clone(&state.inner.store);
    let raw = blocking(move || store.raw(&sha256)).await?;
    let Some(raw) = raw else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such raw record",
        ));
    };
    let mut res = raw.bytes.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&raw.source) {
        res.headers_mut().insert("x-midwatch-source", v);
    }
    Ok(res)
}

async fn get_identities(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = Arc::clone(&state.inner.store);
    let items = blocking(move || store.identities()).await?;
    Ok(axum::Json(json!({ "identities": items })).into_response())
}

async fn get_apps(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = Arc::clone(&state.inner.store);
    let items = blocking(move || store.apps()).await?;
    Ok(axum::Json(json!({ "apps": items })).into_response())
}

/// Parse a body that is one item, an array of items, or `{"<key>": [items]}`.
fn parse_items<T: serde::de::DeserializeOwned>(body: &[u8], key: &str) -> Result<Vec<T>, ApiError> {
    let bad = |e: serde_json::Error| {
        ApiError::bad_request("invalid_body", format!("body is not {key} JSON: {e}"))
    };
    let v: serde_json::Value = serde_json::from_slice(body).map_err(bad)?;
    let list = match v {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut m) if m.contains_key(key) => match m.remove(key) {
            Some(serde_json::Value::Array(items)) => items,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    format!("`{key}` must be an array"),
                ));
            }
        },
        other => vec![other],
    };
    list.into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value(item)
                .map_err(|e| ApiError::bad_request("invalid_body", format!("{key}[{i}]: {e}")))
        })
        .collect()
}

async fn post_identities(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let items: Vec<Identity> = parse_items(&bytes, "identities")?;
    let n = items.len();
    state.put_inventory(items, Vec::new()).await?;
    Ok((StatusCode::OK, axum::Json(json!({ "upserted": n }))).into_response())
}

async fn post_apps(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&state, &headers, body).await?;
    let items: Vec<App> = parse_items(&bytes, "apps")?;
    let n = items.len();
    state.put_inventory(Vec::new(), items).await?;
    Ok((StatusCode::OK, axum::Json(json!({ "upserted": n }))).into_response())
}

async fn healthz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = Arc::clone(&state.inner.store);
    let counts = blocking(move || store.counts()).await?;
    Ok(axum::Json(json!({
        "status": "ok",
        "store": counts,
        "queue_depth": state.inner.pipeline.queued(),
    }))
    .into_response())
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = Arc::clone(&state.inner.store);
    let counts = blocking(move || store.counts()).await?;
    let text = state.inner.metrics.render(metrics::Gauges {
        events_total: counts.events,
        sessions_total: counts.sessions,
        queue_depth: state.inner.pipeline.queued(),
        queue_capacity: state.inner.queue_capacity,
    });
    let mut res = text.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}

/// Serve `state` on `listener` until `shutdown` resolves; also sweeps idle sessions by
/// wall-clock time every few seconds when `wall_clock_sweep` is set.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    wall_clock_sweep: bool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, wall_clock_sweep, Vec::new(), shutdown).await
}

/// [`serve`], also running pull connectors (checked with [`connectors::check`]).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    wall_clock_sweep: bool,
    pull: Vec<midwatch_connectors::Connector>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let pullers = connectors::spawn(&state, pull);
    let anchor = state
        .inner
        .anchor
        .lock()
        .ok()
        .and_then(|mut a| a.take())
        .map(|(url, queue)| evidence::spawn_anchor(url, queue));
    let retention = evidence::spawn_retention(state.clone());
    let sweeper = wall_clock_sweep.then(|| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                state.sweep(now_ms());
            }
        })
    });
    let result = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(s) = sweeper {
        s.abort();
    }
    if let Some(r) = retention {
        r.abort();
    }
    if let Some(a) = anchor {
        // Checkpoints still queued are in the anchor file and the log; the URL gets the
        // rest on the next start's checkpoints.
        a.abort();
    }
    for p in pullers {
        p.abort();
        let _ = p.await;
    }
    result
}
