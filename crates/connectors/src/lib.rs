//! Pull connectors: page through a vendor's audit-log API and hand each page of raw
//! records, with the cursor that follows it, to a sink that commits both together.
//!
//! One file per vendor ([`okta`], [`entra`], [`github`], [`gws`]) says how that vendor pages
//! (a `Link` header, `@odata.nextLink`, `pageToken`) and where its records keep their time;
//! this module does what they share: authentication, retries with backoff, rate-limit
//! waits, refusing to follow a next link off the configured origin (the token would go
//! with it), and the loop. The cursor is opaque text (JSON of [`Cursor`]) that the caller
//! stores in the same transaction as the page's events, so a restart resumes exactly after
//! what was stored: no gap, no duplicate.

pub mod entra;
pub mod github;
pub mod gws;
pub mod okta;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which vendor API a connector pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Okta System Log API (`/api/v1/logs`).
    Okta,
    /// Microsoft Graph sign-in logs (`/v1.0/auditLogs/signIns`).
    EntraSignin,
    /// GitHub organisation audit log (`/orgs/{org}/audit-log`).
    Github,
    /// Google Workspace Admin SDK Reports (`activities.list`).
    Gws,
}

impl Kind {
    /// The source that parses this connector's records.
    pub fn source(self) -> &'static str {
        match self {
            Kind::Okta => "okta",
            Kind::EntraSignin => "entra-signin",
            Kind::Github => "github",
            Kind::Gws => "gws",
        }
    }
}

/// A connector's settings (`[[connectors]]` in the configuration file).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// Unique name; the cursor is stored under it.
    pub name: String,
    /// Vendor API.
    pub kind: Kind,
    /// API origin, e.g. `https://example.okta.com`, `https://graph.microsoft.com`,
    /// `https://api.github.com`, `https://admin.googleapis.com`.
    pub base_url: String,
    /// API token. Prefer `token_env`.
    #[serde(default)]
    pub token: Option<String>,
    /// Environment variable holding the API token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// GitHub organisation.
    #[serde(default)]
    pub org: Option<String>,
    /// Google Workspace application (`login`, `admin`, `token`, `drive`, …).
    #[serde(default)]
    pub application: Option<String>,
    /// Where to start when no cursor is stored (RFC 3339); default: one hour ago.
    #[serde(default)]
    pub since: Option<String>,
    /// Records per page requested.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Pause between polls once caught up, in milliseconds.
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
}

fn default_page_size() -> u32 {
    500
}

fn default_poll() -> u64 {
    30_000
}

impl std::fmt::Debug for ConnectorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never reaches a log line.
        f.debug_struct("ConnectorConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_env", &self.token_env)
            .field("org", &self.org)
            .field("application", &self.application)
            .field("since", &self.since)
            .finish()
    }
}

/// Why a connector cannot run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Bad settings.
    #[error("connector `{name}`: {reason}")]
    Config {
        /// Connector name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The API refused the credentials or the request (401, 403 without a rate limit, 404).
    #[error("connector `{name}`: the API answered {status}: {body}")]
    Refused {
        /// Connector name.
        name: String,
        /// HTTP status.
        status: u16,
        /// First bytes of the answer.
        body: String,
    },
    /// The sink (the store) failed.
    #[error("connector `{name}`: {reason}")]
    Sink {
        /// Connector name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Where a connector is: the next page to fetch, and the high-water mark of record time
/// for APIs that are polled by time once a round of pages is done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Next page: a URL (Okta, Graph, GitHub) or a page token (Google).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Newest record time fully delivered, RFC 3339 (start of the next round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw: Option<String>,
    /// Newest record time seen in the round in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_max: Option<String>,
}

impl Cursor {
    /// Parse stored cursor text; unreadable text starts afresh (and is logged).
    pub fn parse(text: Option<&str>) -> Cursor {
        match text {
            None => Cursor::default(),
            Some(t) => serde_json::from_str(t).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "stored connector cursor unreadable; starting afresh");
                Cursor::default()
            }),
        }
    }

    /// As stored.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Remember a record time seen in this round.
    pub fn saw(&mut self, time: Option<&str>) {
        if let Some(t) = time
            && self.round_max.as_deref().is_none_or(|m| later(t, m))
        {
            self.round_max = Some(t.to_string());
        }
    }

    /// The round is over: its newest time becomes the mark the next round starts from.
    pub fn finish_round(&mut self) {
        self.next = None;
        if let Some(m) = self.round_max.take()
            && self.hw.as_deref().is_none_or(|h| later(&m, h))
        {
            self.hw = Some(m);
        }
    }
}

/// Compare two vendor times (RFC 3339, possibly of different precision).
fn later(a: &str, b: &str) -> bool {
    let pa = midwatch_model::timefmt::parse_rfc3339_ms(a);
    let pb = midwatch_model::timefmt::parse_rfc3339_ms(b);
    match (pa, pb) {
        (Some(x), Some(y)) => x > y,
        _ => a > b,
    }
}

/// One fetched page.
#[derive(Debug, Default)]
pub struct Page {
    /// Raw records, each one JSON object as the vendor sent it.
    pub records: Vec<Vec<u8>>,
    /// The cursor after this page.
    pub cursor: Cursor,
    /// No more pages for now: wait `poll_ms` before the next request.
    pub caught_up: bool,
}

/// What a vendor file provides.
pub(crate) trait Vendor {
    /// The request for the page `cursor` points at.
    fn url(cfg: &ConnectorConfig, cursor: &Cursor) -> Result<String, String>;
    /// The authorization header value.
    fn auth(token: &str) -> String;
    /// Split a 2xx answer into records and the cursor after it.
    fn page(
        cfg: &ConnectorConfig,
        cursor: &Cursor,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<Page, String>;
}

/// A running connector.
#[derive(Debug)]
pub struct Connector {
    cfg: ConnectorConfig,
    token: String,
    client: reqwest::Client,
    /// Longest wait between retries.
    pub max_backoff: Duration,
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn link_next(headers: &reqwest::header::HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let mut pieces = part.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                return Some(
                    target
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string(),
                );
            }
        }
    }
    None
}

/// Split a JSON array (or an object's array field) into raw records.
pub(crate) fn split_items(body: &[u8], field: Option<&str>) -> Result<Vec<Vec<u8>>, String> {
    let items: Vec<Box<serde_json::value::RawValue>> = match field {
        None => {
            serde_json::from_slice(body).map_err(|e| format!("answer is not a JSON array: {e}"))?
        }
        Some(f) => {
            let mut obj: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
                serde_json::from_slice(body)
                    .map_err(|e| format!("answer is not a JSON object: {e}"))?;
            match obj.remove(f) {
                Some(raw) => serde_json::from_str(raw.get())
                    .map_err(|e| format!("`{f}` is not an array: {e}"))?,
                None => Vec::new(),
            }
        }
    };
    Ok(items
        .into_iter()
        .map(|r| r.get().as_bytes().to_vec())
        .collect())
}

/// A string field of a raw JSON record, by dotted path.
pub(crate) fn field_str(record: &[u8], path: &[&str]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(record).ok()?;
    let mut cur = &v;
    for p in path {
        cur = cur.get(p)?;
    }
    match cur {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => n.as_i64().map(midwatch_model::timefmt::format_ms),
        _ => None,
    }
}

impl Connector {
    /// Check the settings and find the token.
    pub fn new(cfg: ConnectorConfig) -> Result<Connector, ConnectorError> {
        let bad = |reason: &str| ConnectorError::Config {
            name: cfg.name.clone(),
            reason: reason.to_string(),
        };
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(bad("`base_url` must be an http(s) URL"));
        }
        let token = match (&cfg.token, &cfg.token_env) {
            (Some(t), _) => t.clone(),
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| bad(&format!("environment variable `{var}` is not set")))?,
            (None, None) => return Err(bad("give `token` or `token_env`")),
        };
        if cfg.kind == Kind::Github && cfg.org.is_none() {
            return Err(bad("a github connector needs `org`"));
        }
        if cfg.kind == Kind::Gws && cfg.application.is_none() {
            return Err(bad("a gws connector needs `application`"));
        }
        install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(Connector {
            cfg,
            token,
            client,
            max_backoff: Duration::from_secs(60),
        })
    }

    /// The settings.
    pub fn config(&self) -> &ConnectorConfig {
        &self.cfg
    }

    fn url(&self, cursor: &Cursor) -> Result<String, String> {
        match self.cfg.kind {
            Kind::Okta => okta::Okta::url(&self.cfg, cursor),
            Kind::EntraSignin => entra::Entra::url(&self.cfg, cursor),
            Kind::Github => github::GitHub::url(&self.cfg, cursor),
            Kind::Gws => gws::Gws::url(&self.cfg, cursor),
        }
    }

    fn auth(&self) -> String {
        match self.cfg.kind {
            Kind::Okta => okta::Okta::auth(&self.token),
            Kind::EntraSignin => entra::Entra::auth(&self.token),
            Kind::Github => github::GitHub::auth(&self.token),
            Kind::Gws => gws::Gws::auth(&self.token),
        }
    }

    fn split(
        &self,
        cursor: &Cursor,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<Page, String> {
        match self.cfg.kind {
            Kind::Okta => okta::Okta::page(&self.cfg, cursor, headers, body),
            Kind::EntraSignin => entra::Entra::page(&self.cfg, cursor, headers, body),
            Kind::Github => github::GitHub::page(&self.cfg, cursor, headers, body),
            Kind::Gws => gws::Gws::page(&self.cfg, cursor, headers, body),
        }
    }

    /// Fetch the page after `cursor`, retrying through rate limits, server errors and
    /// network failures with backoff. Fails only on an answer retrying cannot change.
    pub async fn fetch(&self, cursor: &Cursor) -> Result<Page, ConnectorError> {
        let url = self.url(cursor).map_err(|reason| ConnectorError::Config {
            name: self.cfg.name.clone(),
            reason,
        })?;
        if !same_origin(&url, &self.cfg.base_url) {
            return Err(ConnectorError::Config {
                name: self.cfg.name.clone(),
                reason: format!(
                    "next page `{url}` is not on `{}`; not sending the token there",
                    self.cfg.base_url
                ),
            });
        }
        let mut delay = Duration::from_millis(500);
        loop {
            let res = self
                .client
                .get(&url)
                .header(reqwest::header::AUTHORIZATION, self.auth())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            let wait = match res {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let headers = res.headers().clone();
                    let body = res.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                    let limited = rate_limit_wait(&headers);
                    match status {
                        200..=299 => {
                            let page = self.split(cursor, &headers, &body).map_err(|reason| {
                                ConnectorError::Refused {
                                    name: self.cfg.name.clone(),
                                    status,
                                    body: reason,
                                }
                            })?;
                            // Spend the remaining budget gently: when the vendor says the
                            // window is used up, wait for it before the next request.
                            if let Some(w) = limited.filter(|_| remaining_is_zero(&headers)) {
                                tokio::time::sleep(w.min(self.max_backoff)).await;
                            }
                            return Ok(page);
                        }
                        429 => limited.or_else(|| retry_after(&headers)).unwrap_or(delay),
                        403 if limited.is_some() && remaining_is_zero(&headers) => {
                            limited.unwrap_or(delay)
                        }
                        500..=599 => retry_after(&headers).unwrap_or(delay),
                        _ => {
                            return Err(ConnectorError::Refused {
                                name: self.cfg.name.clone(),
                                status,
                                body: String::from_utf8_lossy(
                                    body.get(..body.len().min(300)).unwrap_or(&[]),
                                )
                                .to_string(),
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(connector = %self.cfg.name, error = %e, "request failed; retrying");
                    delay
                }
            };
            tracing::info!(connector = %self.cfg.name, wait_ms = wait.as_millis() as u64, "waiting before retry");
            tokio::time::sleep(wait.min(self.max_backoff)).await;
            delay = (delay * 2).min(self.max_backoff);
        }
    }
}

/// TLS for vendor APIs: rustls with the ring provider, certificates checked against the
/// platform's trust store. Installing twice is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// True when `url` has the same scheme, host and port as `base`.
fn same_origin(url: &str, base: &str) -> bool {
    fn origin(u: &str) -> &str {
        let after_scheme = u.find("://").map_or(0, |i| i + 3);
        let end = u
            .get(after_scheme..)
            .and_then(|r| r.find('/'))
            .map_or(u.len(), |i| after_scheme + i);
        u.get(..end).unwrap_or(u)
    }
    origin(url).eq_ignore_ascii_case(origin(base))
}

fn header_u64(headers: &reqwest::header::HeaderMap, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        headers
            .get(*n)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    })
}

fn remaining_is_zero(headers: &reqwest::header::HeaderMap) -> bool {
    header_u64(
        headers,
        &["x-rate-limit-remaining", "x-ratelimit-remaining"],
    ) == Some(0)
}

/// How long until the vendor's rate-limit window resets (`X-Rate-Limit-Reset` /
/// `X-RateLimit-Reset`: epoch seconds).
fn rate_limit_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let reset = header_u64(headers, &["x-rate-limit-reset", "x-ratelimit-reset"])?;
    let now = u64::try_from(midwatch_model::timefmt::now_ms() / 1000).unwrap_or(0);
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    header_u64(headers, &["retry-after"]).map(Duration::from_secs)
}

/// Where a first request starts when nothing is stored: the configured `since`, else an
/// hour ago.
pub(crate) fn start_time(cfg: &ConnectorConfig) -> String {
    cfg.since.clone().unwrap_or_else(|| {
        midwatch_model::timefmt::format_ms(midwatch_model::timefmt::now_ms() - 3_600_000)
    })
}

/// Percent-encode a query value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where pages go: the records and the cursor after them, committed together.
pub trait Sink {
    /// Store the page's records and the cursor after it in one transaction.
    fn deliver(
        &mut self,
        records: Vec<Vec<u8>>,
        cursor: String,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

impl Connector {
    /// Pull forever from `cursor` (stored text, or none to start at `since`), delivering
    /// every page to `sink`; returns only on an error retrying cannot fix.
    pub async fn run(
        &self,
        cursor: Option<&str>,
        sink: &mut impl Sink,
    ) -> Result<(), ConnectorError> {
        let mut cursor = Cursor::parse(cursor);
        loop {
            let page = self.fetch(&cursor).await?;
            let n = page.records.len();
            sink.deliver(page.records, page.cursor.to_text())
                .await
                .map_err(|reason| ConnectorError::Sink {
                    name: self.cfg.name.clone(),
                    reason,
                })?;
            tracing::debug!(connector = %self.cfg.name, records = n, "page delivered");
            cursor = page.cursor;
            if page.caught_up {
                tokio::time::sleep(Duration::from_millis(self.cfg.poll_ms.max(10))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_and_origins() {
        let mut h = reqwest::header::HeaderMap::new();
        h.append(
            reqwest::header::LINK,
            "<https://x.okta.com/api/v1/logs?limit=2>; rel=\"self\", <https://x.okta.com/api/v1/logs?after=abc>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            link_next(&h).as_deref(),
            Some("https://x.okta.com/api/v1/logs?after=abc")
        );
        assert!(same_origin("https://x.okta.com/a?b", "https://x.okta.com"));
        assert!(!same_origin("https://evil.example/a", "https://x.okta.com"));
        assert!(!same_origin(
            "https://x.okta.com.evil.example/a",
            "https://x.okta.com"
        ));
    }

    #[test]
    fn cursor_rounds() {
        let mut c = Cursor::default();
        c.saw(Some("2026-01-05T09:00:00Z"));
        c.saw(Some("2026-01-05T08:00:00.5Z"));
        c.finish_round();
        assert_eq!(c.hw.as_deref(), Some("2026-01-05T09:00:00Z"));
        assert_eq!(Cursor::parse(Some(&c.to_text())), c);
        assert_eq!(Cursor::parse(Some("garbage")), Cursor::default());
    }

    #[test]
    fn tokens_stay_out_of_debug_output() {
        let cfg: ConnectorConfig = serde_json::from_value(serde_json::json!({
            "name": "o", "kind": "okta", "base_url": "https://x.okta.com", "token": "s3cr3t"
        }))
        .unwrap();
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
    }
}
