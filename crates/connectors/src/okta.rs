//! Okta System Log API: `GET /api/v1/logs?sortOrder=ASCENDING&since=…`, paged and polled
//! through the `Link: <…>; rel="next"` header, which Okta keeps returning even when caught
//! up, so the cursor is always the next URL. Rate limits come as `X-Rate-Limit-Remaining`
//! and `X-Rate-Limit-Reset`.

use crate::{ConnectorConfig, Cursor, Page, Vendor, enc, link_next, split_items, start_time};

/// The Okta connector.
#[derive(Debug)]
pub struct Okta;

impl Vendor for Okta {
    fn url(cfg: &ConnectorConfig, cursor: &Cursor) -> Result<String, String> {
        if let Some(next) = &cursor.next {
            return Ok(next.clone());
        }
        Ok(format!(
            "{}/api/v1/logs?sortOrder=ASCENDING&limit={}&since={}",
            cfg.base_url.trim_end_matches('/'),
            cfg.page_size,
            enc(&start_time(cfg))
        ))
    }

    fn auth(token: &str) -> String {
        format!("SSWS {token}")
    }

    fn page(
        cfg: &ConnectorConfig,
        cursor: &Cursor,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<Page, String> {
        let records = split_items(body, None)?;
        let mut next = cursor.clone();
        // Without a next link (an older API version), ask again for the same page: the
        // store drops what it already has.
        next.next = link_next(headers).or_else(|| Self::url(cfg, cursor).ok());
        Ok(Page {
            caught_up: records.len() < cfg.page_size as usize,
            records,
            cursor: next,
        })
    }
}
