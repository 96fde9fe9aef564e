//! Google Workspace Admin SDK Reports: `GET /admin/reports/v1/activity/users/all/
//! applications/{application}?startTime=…`, paged by `nextPageToken`. Once a round ends,
//! the next starts from the newest `id.time` delivered (inclusive: the store drops the
//! repeats). Quota errors are 429 or 503 with backoff.

use crate::{ConnectorConfig, Cursor, Page, Vendor, enc, field_str, split_items, start_time};

/// The Google Workspace Reports connector.
#[derive(Debug)]
pub struct Gws;

impl Vendor for Gws {
    fn url(cfg: &ConnectorConfig, cursor: &Cursor) -> Result<String, String> {
        let app = cfg
            .application
            .as_deref()
            .ok_or("a gws connector needs `application`")?;
        let from = cursor.hw.clone().unwrap_or_else(|| start_time(cfg));
        let mut url = format!(
            "{}/admin/reports/v1/activity/users/all/applications/{}?maxResults={}&startTime={}",
            cfg.base_url.trim_end_matches('/'),
            enc(app),
            cfg.page_size.min(1000),
            enc(&from)
        );
        if let Some(token) = &cursor.next {
            url.push_str("&pageToken=");
            url.push_str(&enc(token));
        }
        Ok(url)
    }

    fn auth(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn page(
        _cfg: &ConnectorConfig,
        cursor: &Cursor,
        _headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<Page, String> {
        let records = split_items(body, Some("items"))?;
        let mut next = cursor.clone();
        for r in &records {
            next.saw(field_str(r, &["id", "time"]).as_deref());
        }
        let token: Option<String> = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("nextPageToken")?.as_str().map(str::to_string));
        let caught_up = token.is_none();
        match token {
            Some(t) => next.next = Some(t),
            None => next.finish_round(),
        }
        Ok(Page {
            records,
            cursor: next,
            caught_up,
        })
    }
}
