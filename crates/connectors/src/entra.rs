//! Microsoft Graph sign-in logs: `GET /v1.0/auditLogs/signIns?$filter=createdDateTime ge …`,
//! paged by `@odata.nextLink` in the answer. Once a round of pages ends, the next round
//! starts after the newest `createdDateTime` delivered. Throttling is a 429 with
//! `Retry-After`.

use crate::{ConnectorConfig, Cursor, Page, Vendor, enc, field_str, split_items, start_time};

/// The Entra ID sign-in connector.
#[derive(Debug)]
pub struct Entra;

impl Vendor for Entra {
    fn url(cfg: &ConnectorConfig, cursor: &Cursor) -> Result<String, String> {
        if let Some(next) = &cursor.next {
            return Ok(next.clone());
        }
        let filter = match &cursor.hw {
            Some(hw) => format!("createdDateTime gt {hw}"),
            None => format!("createdDateTime ge {}", start_time(cfg)),
        };
        Ok(format!(
            "{}/v1.0/auditLogs/signIns?$top={}&$filter={}",
            cfg.base_url.trim_end_matches('/'),
            cfg.page_size,
            enc(&filter)
        ))
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
        let records = split_items(body, Some("value"))?;
        let mut next = cursor.clone();
        for r in &records {
            next.saw(field_str(r, &["createdDateTime"]).as_deref());
        }
        let link: Option<String> = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("@odata.nextLink")?.as_str().map(str::to_string));
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
