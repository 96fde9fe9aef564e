//! The readable timeline of a bundle: one self-contained HTML page (no script, no outside
//! resource) saying who, from where, what, in which order, with which findings and
//! responses. It is a rendering of the bundle's records; the records and proofs are what
//! verification checks, and the page's digest is in the signed bundle manifest.

use crate::search::Hit;
use serde_json::Value;
use std::fmt::Write;

/// Escape text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    match at(v, path)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// UTC time of epoch ms, `YYYY-MM-DD HH:MM:SS.mmm`.
pub fn utc(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Where an event came from: address, place, network, device.
fn origin(p: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(ip) = text(p, &["src_endpoint", "ip"]) {
        parts.push(ip);
    }
    let place: Vec<String> = [
        text(p, &["src_endpoint", "location", "city"]),
        text(p, &["src_endpoint", "location", "country"]),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !place.is_empty() {
        parts.push(place.join(", "));
    }
    if let Some(asn) = text(p, &["src_endpoint", "autonomous_system", "name"]) {
        parts.push(asn);
    }
    if let Some(d) = text(p, &["device", "uid"]) {
        parts.push(format!("device {d}"));
    }
    parts.join(" · ")
}

/// What happened, in a line.
fn what(h: &Hit, p: &Value) -> String {
    let mut s = String::new();
    let verb = text(p, &["activity_name"])
        .or_else(|| text(p, &["metadata", "event_code"]))
        .unwrap_or_else(|| h.action.clone());
    s.push_str(&verb);
    if let Some(title) = text(p, &["finding_info", "title"]) {
        s = format!("finding: {title}");
    }
    for path in [
        &["http_request", "url", "url_string"][..],
        &["http_request", "url", "hostname"][..],
        &["file", "name"][..],
        &["dst_endpoint", "hostname"][..],
    ] {
        if let Some(t) = text(p, path) {
            let _ = write!(s, " — {t}");
            break;
        }
    }
    if let Some(Value::Array(res)) = at(p, &["web_resources"])
        && let Some(name) = res.first().and_then(|r| text(r, &["name"]))
    {
        let _ = write!(s, " — {name}");
    }
    if let Some(n) = text(p, &["midwatch", "count"]) {
        let _ = write!(s, " ({n} items)");
    }
    s
}

/// Title of a bundle page.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// What was selected (`session s-1`).
    pub selection: String,
    /// When the bundle was made, epoch ms.
    pub created: i64,
    /// Signing key id (hex).
    pub key_id: String,
}

/// Render the timeline of `hits` (any order; shown oldest first).
pub fn timeline(info: &PageInfo, hits: &[Hit]) -> String {
    let mut rows: Vec<&Hit> = hits.iter().collect();
    rows.sort_by_key(|h| (h.time, h.seq));
    let mut identities: Vec<&str> = rows
        .iter()
        .map(|h| h.identity.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    identities.sort_unstable();
    identities.dedup();
    let mut sessions: Vec<&str> = rows
        .iter()
        .map(|h| h.session.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    sessions.sort_unstable();
    sessions.dedup();
    let span = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) => format!("{} – {} UTC", utc(a.time), utc(b.time)),
        _ => "no records".into(),
    };
    let mut out = String::with_capacity(4096 + hits.len() * 400);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>midwatch evidence — {sel}</title><style>\
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1b1f24}}\
h1{{font-size:1.4em}}table{{border-collapse:collapse;width:100%}}\
th,td{{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}}\
th{{background:#f6f8fa}}tr.finding td{{background:#fff4e5}}tr.response td,tr.decision td{{background:#eef6ff}}\
tr.admin td{{background:#f3f0ff}}tr.erased td{{color:#8c959f}}code{{font-size:12px}}\
.sev-high,.sev-critical{{color:#b42318;font-weight:600}}dl{{display:grid;grid-template-columns:max-content auto;gap:2px 12px}}\
</style></head><body>\n<h1>Evidence: {sel}</h1>\n<dl>\
<dt>Records</dt><dd id=\"count\">{n}</dd><dt>Time span</dt><dd>{span}</dd>\
<dt>Identities</dt><dd>{ids}</dd><dt>Sessions</dt><dd>{sess}</dd>\
<dt>Bundle made</dt><dd>{created} UTC</dd><dt>Signing key</dt><dd><code>{key}</code></dd></dl>\n\
<p>Check this bundle with <code>midwatch evidence verify BUNDLE</code>: every record below is \
chained, covered by a signed checkpoint and proven by a Merkle path in the bundle.</p>\n",
        sel = escape(&info.selection),
        n = rows.len(),
        span = escape(&span),
        ids = escape(&identities.join(", ")),
        sess = escape(&sessions.join(", ")),
        created = utc(info.created),
        key = escape(&info.key_id),
    );
    let findings: Vec<&&Hit> = rows.iter().filter(|h| h.kind == "finding").collect();
    if !findings.is_empty() {
        out.push_str("<h2>Findings</h2>\n<table id=\"findings\"><tr><th>Time</th><th>Severity</th><th>Finding</th><th>Status</th><th>Rule</th></tr>\n");
        for h in findings {
            let p = h.payload.clone().unwrap_or(Value::Null);
            let sev = text(&p, &["severity"]).unwrap_or_default().to_lowercase();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"sev-{}\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                utc(h.time),
                escape(&sev),
                escape(&sev),
                escape(&text(&p, &["finding_info", "title"]).unwrap_or_else(|| h.uid.clone())),
                escape(&text(&p, &["status"]).unwrap_or_default()),
                escape(&h.action),
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Timeline</h2>\n<table id=\"timeline\"><tr><th>Time (UTC)</th><th>Kind</th><th>Who</th><th>From</th><th>What</th><th>Outcome</th><th>Session</th><th>Record</th></tr>\n");
    for h in &rows {
        let (class, who, from, what_s, outcome) = match &h.payload {
            Some(p) => (
                h.kind.clone(),
                text(p, &["actor", "user", "email_addr"])
                    .or_else(|| text(p, &["actor", "user", "name"]))
                    .unwrap_or_else(|| h.identity.clone()),
                origin(p),
                what(h, p),
                text(p, &["status"]).unwrap_or_default(),
            ),
            None => (
                format!("{} erased", h.kind),
                h.identity.clone(),
                String::new(),
                if h.erased {
                    format!("{} (payload erased with the identity's key)", h.action)
                } else {
                    h.action.clone()
                },
                String::new(),
            ),
        };
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code title=\"{}\">#{}</code></td></tr>",
            escape(&class),
            utc(h.time),
            escape(&h.kind),
            escape(&who),
            escape(&from),
            escape(&what_s),
            escape(&outcome),
            escape(&h.session),
            escape(&h.hash),
            h.seq,
        );
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_records_is_escaped() {
        assert_eq!(
            escape("<b a=\"1\">&'"),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;"
        );
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20.123");
    }
}
