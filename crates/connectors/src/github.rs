//! GitHub organisation audit log: `GET /orgs/{org}/audit-log?order=asc&phrase=created:>=…`,
//! paged by the `Link` header's `rel="next"` (an `after` cursor). Once a round ends, the
//! next round asks from the newest `@timestamp` delivered (inclusive: the store drops the
//! repeats by `_document_id`). Rate limits come as `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset`, with 403 or 429 when spent.

use crate::{
    ConnectorConfig, Cursor, Page, Vendor, enc, field_str, link_next, split_items, start_time,
};

/// The GitHub audit-log connector.
#[derive(Debug)]
pub struct GitHub;

impl Vendor for GitHub {
    fn url(cfg: &ConnectorConfig, cursor: &Cursor) -> Result<String, String> {
        if let Some(next) = &cursor.next {
            return Ok(next.clone());
        }
        let org = cfg.org.as_deref().ok_or("a github connector needs `org`")?;
        let from = cursor.hw.clone().unwrap_or_else(|| start_time(cfg));
        Ok(format!(
            "{}/orgs/{}/audit-log?include=all&order=asc&per_page={}&phrase={}",
            cfg.base_url.trim_end_matches('/'),
            enc(org),
            cfg.page_size.min(100),
            enc(&format!("created:>={from}"))
        ))
    }

    fn auth(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn page(
        _cfg: &ConnectorConfig,
        cursor: &Cursor,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<Page, String> {
        let records = split_items(body, None)?;
        let mut next = cursor.clone();
        for r in &records {
            let t = field_str(r, &["@timestamp"]).or_else(|| field_str(r, &["created_at"]));
            next.saw(t.as_deref());
        }
        let link = link_next(headers);
        let caught_up = link.is_none();
        match link {
            Some(l) => next.next = Some(l),
            None => next.finish_round(),
        }
        Ok(Page {
            records,
            cursor: next,
            caught_up,
        })
    }
}
