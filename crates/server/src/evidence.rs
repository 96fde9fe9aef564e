//! The server's evidence log: opened from `[evidence]`, fed by the pipeline thread, served
//! under `/v1/evidence`, its checkpoints published to an anchor URL, expired segments removed
//! hourly.

use crate::config::EvidenceSettings;
use crate::error::ApiError;
use crate::{AppState, StartError, parse_time};
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use midwatch_evidence::bundle::Selection;
use midwatch_evidence::codec::hex;
use midwatch_evidence::verify::{Options, verify_dir};
use midwatch_evidence::{Checkpoint, Kind, Log, Privacy, Signer};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// An open evidence log and what the server needs beside it.
#[derive(Debug)]
pub struct Evidence {
    /// The log.
    pub log: Log,
    /// The signing key (bundles are signed with it too).
    pub signer: Signer,
    /// Payload cleaning.
    pub privacy: Privacy,
    /// Retention per kind, ms.
    pub retention: BTreeMap<Kind, i64>,
    /// Log directory.
    pub dir: PathBuf,
    /// Anchor file checkpoints are also written to.
    pub anchor_file: Option<PathBuf>,
}

/// Checkpoints waiting to be posted to the anchor URL.
pub type AnchorQueue = tokio::sync::mpsc::Receiver<Checkpoint>;

impl Evidence {
    /// Open the log the settings describe; with an anchor URL, also the queue of checkpoints
    /// to post there.
    pub fn open(s: EvidenceSettings) -> Result<(Evidence, Option<AnchorQueue>), StartError> {
        let bad = |e: &dyn std::fmt::Display| StartError::Config(format!("evidence: {e}"));
        let signer = Signer::load_or_create(&s.signing_key).map_err(|e| bad(&e))?;
        let mut cfg = s.log.clone();
        let queue = s.anchor_url.as_ref().map(|_| {
            let (tx, rx) = tokio::sync::mpsc::channel::<Checkpoint>(4096);
            cfg.on_checkpoint = Some(Arc::new(move |c: &Checkpoint| {
                if tx.try_send(c.clone()).is_err() {
                    tracing::warn!(
                        last_seq = c.last_seq,
                        "anchor queue full: checkpoint not posted"
                    );
                }
            }));
            rx
        });
        let log = Log::open(&s.dir, signer.clone(), cfg).map_err(|e| bad(&e))?;
        Ok((
            Evidence {
                log,
                signer,
                privacy: s.log.privacy.clone(),
                retention: s.retention,
                dir: s.dir,
                anchor_file: s.log.anchor_file,
            },
            queue,
        ))
    }
}

/// Post each checkpoint to `url` as JSON, retrying with backoff while the target is down.
pub fn spawn_anchor(url: String, mut queue: AnchorQueue) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        midwatch_connectors::install_tls_provider();
        let client = match reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "anchor client not built: checkpoints not anchored");
                return;
            }
        };
        while let Some(c) = queue.recv().await {
            let body = json!({
                "key_id": hex(&c.key_id),
                "first_seq": c.first_seq,
                "last_seq": c.last_seq,
                "chain_hash": hex(&c.chain_hash),
                "checkpoint": hex(&c.encode()),
            })
            .to_string();
            let mut wait = std::time::Duration::from_millis(200);
            for attempt in 1..=8 {
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => break,
                    Ok(r) => {
                        tracing::warn!(status = %r.status(), attempt, "anchor refused a checkpoint")
                    }
                    Err(e) => tracing::warn!(error = %e, attempt, "anchor unreachable"),
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(30));
            }
        }
    })
}

/// Remove expired segments now and every hour.
pub fn spawn_retention(state: AppState) -> Option<tokio::task::JoinHandle<()>> {
    let ev = state.evidence()?.clone();
    if ev.retention.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let ev = Arc::clone(&ev);
            let done = tokio::task::spawn_blocking(move || {
                ev.log
                    .retain(midwatch_model::timefmt::now_ms(), &ev.retention)
            })
            .await;
            match done {
                Ok(Ok(t)) if !t.is_empty() => {
                    tracing::info!(segments = t.len(), "evidence segments removed by retention")
                }
                Ok(Err(e)) => tracing::error!(error = %e, "evidence retention failed"),
                _ => {}
            }
        }
    }))
}

/// The `/v1/evidence` routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/evidence/keys", get(keys))
        .route("/v1/evidence/verify", get(verify))
        .route("/v1/evidence/search", get(search))
        .route("/v1/evidence/export", get(export))
        .route("/v1/evidence/erase", post(erase))
}

fn log_of(state: &AppState) -> Result<Arc<Evidence>, ApiError> {
    state.evidence().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "evidence_disabled",
            "the evidence log is off (`[evidence] enabled = false`)",
        )
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("evidence task stopped unexpectedly"))?
}

async fn keys(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ev = log_of(&state)?;
    Ok(axum::Json(json!({
        "algorithm": "Ed25519",
        "public_key": hex(&ev.signer.public_key()),
        "key_id": hex(&ev.signer.key_id()),
        "last_seq": ev.log.last_seq(),
    }))
    .into_response())
}

async fn verify(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ev = log_of(&state)?;
    let report = blocking(move || {
        ev.log
            .checkpoint_now()
            .map_err(|e| ApiError::internal(format!("evidence checkpoint: {e}")))?;
        Ok(verify_dir(
            &ev.dir,
            &Options {
                trusted_key: Some(ev.signer.public_key()),
                anchor: ev.anchor_file.clone(),
            },
        ))
    })
    .await?;
    Ok(axum::Json(report).into_response())
}

/// Query string of `GET /v1/evidence/search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    session: Option<String>,
    identity: Option<String>,
    app: Option<String>,
    action: Option<String>,
    kind: Option<String>,
    class_uid: Option<u32>,
    uid: Option<String>,
    finding: Option<String>,
    since: Option<String>,
    until: Option<String>,
    text: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

type Params<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

async fn search(
    State(state): State<AppState>,
    q: Params<SearchParams>,
) -> Result<Response, ApiError> {
    let ev = log_of(&state)?;
    let p = crate::query(q)?;
    let query = midwatch_evidence::Query {
        session: p.session,
        identity: p.identity,
        app: p.app,
        action: p.action,
        kind: p.kind,
        class_uid: p.class_uid,
        uid: p.uid,
        finding: p.finding,
        since: parse_time("since", p.since.as_deref())?,
        until: parse_time("until", p.until.as_deref())?,
        text: p.text,
        before: p.before,
        limit: p.limit,
    };
    let page = blocking(move || {
        ev.log.search(&query).map_err(|e| match e {
            midwatch_evidence::search::SearchError::Query(m) => {
                ApiError::bad_request("bad_query", m)
            }
            other => ApiError::internal(other),
        })
    })
    .await?;
    Ok(axum::Json(page).into_response())
}

/// Query string of `GET /v1/evidence/export`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    session: Option<String>,
    identity: Option<String>,
    finding: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

async fn export(
    State(state): State<AppState>,
    q: Params<ExportParams>,
) -> Result<Response, ApiError> {
    let ev = log_of(&state)?;
    let p = crate::query(q)?;
    let sel = Selection {
        session: p.session,
        identity: p.identity,
        finding: p.finding,
        since: parse_time("since", p.since.as_deref())?,
        until: parse_time("until", p.until.as_deref())?,
        upto: None,
    };
    let name = format!(
        "midwatch-evidence-{}.tar",
        midwatch_model::timefmt::now_ms()
    );
    let bytes = blocking(move || {
        let covered = ev
            .log
            .checkpoint_now()
            .map_err(|e| ApiError::internal(format!("evidence checkpoint: {e}")))?;
        // Records appended after this checkpoint have no proof yet: the bundle stops here.
        let mut sel = sel;
        sel.upto = Some(covered);
        let tmp = tempfile_in(&ev.dir)?;
        let r = midwatch_evidence::bundle::export(&ev.dir, &ev.signer, &sel, &tmp);
        let out =
            match r {
                Ok(_) => std::fs::read(&tmp).map_err(ApiError::internal),
                Err(
                    e @ (midwatch_evidence::bundle::BundleError::Empty
                    | midwatch_evidence::bundle::BundleError::TooMany(_)),
                ) => Err(ApiError::bad_request("bad_query", e.to_string())),
                Err(e @ midwatch_evidence::bundle::BundleError::NoRecords(_)) => Err(
                    ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
                ),
                Err(e) => Err(ApiError::internal(e)),
            };
        let _ = std::fs::remove_file(&tmp);
        out
    })
    .await?;
    let mut res = Body::from(bytes).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// A fresh file name for an export being written.
fn tempfile_in(dir: &std::path::Path) -> Result<PathBuf, ApiError> {
    let exports = dir.join("exports");
    std::fs::create_dir_all(&exports).map_err(ApiError::internal)?;
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok(exports.join(format!("export-{n}-{}.tar", std::process::id())))
}

/// Body of `POST /v1/evidence/erase`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    identity: String,
    by: String,
}

async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let ev = log_of(&state)?;
    let bytes = crate::read_body(&state, &headers, body).await?;
    let b: EraseBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "bad_body",
            format!("erase body: {e} (expected {{\"identity\", \"by\"}})"),
        )
    })?;
    if b.identity.trim().is_empty() || b.by.trim().is_empty() {
        return Err(ApiError::bad_request(
            "bad_body",
            "`identity` and `by` must not be empty",
        ));
    }
    let (receipt, had_key) = blocking(move || {
        ev.log
            .erase_identity(b.identity.trim(), b.by.trim())
            .map_err(ApiError::internal)
    })
    .await?;
    Ok(axum::Json(json!({
        "erased": had_key,
        "seq": receipt.seq,
        "hash": hex(&receipt.hash),
    }))
    .into_response())
}
