//! What midwatch's own things look like as log records: an event as its OCSF document, a
//! finding as its OCSF Detection Finding, responses and administrative actions as small
//! JSON statements. Payloads are cleaned by [`Privacy`] before they are encoded.

use crate::codec::Kind;
use crate::log::NewRecord;
use crate::privacy::Privacy;
use crate::search::value_word_keys;
use midwatch_model::{Event, Finding};
use serde_json::Value;

fn encode(privacy: &Privacy, mut v: Value) -> (Vec<u8>, Vec<u64>) {
    privacy.apply(&mut v);
    let words = value_word_keys(&v);
    (serde_json::to_vec(&v).unwrap_or_default(), words)
}

/// The record of a normalized event.
pub fn event(e: &Event, privacy: &Privacy) -> NewRecord {
    let v = serde_json::to_value(e).unwrap_or(Value::Null);
    let (payload, words) = encode(privacy, v);
    let m = &e.midwatch;
    let identity = m
        .identity
        .as_ref()
        .map(|i| i.uid.clone())
        .or_else(|| e.actor.user.as_ref().and_then(|u| u.uid.clone()))
        .unwrap_or_default();
    let app = m
        .app
        .as_ref()
        .map(|a| a.uid.clone())
        .or_else(|| {
            e.http_request
                .as_ref()
                .and_then(|h| h.url.as_ref())
                .and_then(|u| u.hostname.clone())
        })
        .unwrap_or_default();
    NewRecord {
        kind: Kind::Event.code(),
        time: e.time,
        class_uid: e.class_uid.uid(),
        uid: e.uid().to_string(),
        session: m.session_uid.clone().unwrap_or_default(),
        identity,
        app,
        action: m
            .action
            .as_deref()
            .or(e.activity_name.as_deref())
            .unwrap_or_default()
            .to_string(),
        payload,
        word_keys: words,
    }
}

/// The record of a finding's current state.
pub fn finding(f: &Finding, privacy: &Privacy) -> NewRecord {
    let (payload, words) = encode(privacy, f.to_ocsf());
    NewRecord {
        kind: Kind::Finding.code(),
        time: f.time,
        class_uid: 2004,
        uid: f.id.clone(),
        session: f.session_id.clone().unwrap_or_default(),
        identity: f.identity.clone().unwrap_or_default(),
        app: String::new(),
        action: f.rule.clone(),
        payload,
        word_keys: words,
    }
}

/// The record of a response taken on a session (`terminate`, `step_up`, `revoke`…).
pub fn response(
    action: &str,
    session: &str,
    identity: &str,
    time: i64,
    detail: Value,
    privacy: &Privacy,
) -> NewRecord {
    let (payload, words) = encode(
        privacy,
        serde_json::json!({"action": action, "session": session, "detail": detail}),
    );
    NewRecord {
        kind: Kind::Response.code(),
        time,
        uid: format!("{action}:{session}:{time}"),
        session: session.into(),
        identity: identity.into(),
        action: action.into(),
        payload,
        word_keys: words,
        ..NewRecord::default()
    }
}

/// The record of an administrative action on `target` (a finding's triage, an inventory
/// change). Never encrypted: it is about the system, not a person's activity; still cleaned
/// of credentials and URL query strings (a triage note may quote one).
pub fn admin(action: &str, target: &str, by: &str, time: i64, detail: Value) -> NewRecord {
    let mut v = serde_json::json!({"action": action, "target": target, "by": by, "detail": detail});
    Privacy::default().apply(&mut v);
    let words = value_word_keys(&v);
    NewRecord {
        kind: Kind::Admin.code(),
        time,
        uid: target.into(),
        action: action.into(),
        payload: serde_json::to_vec(&v).unwrap_or_default(),
        word_keys: words,
        ..NewRecord::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn admin_records_are_cleaned_of_credentials() {
        let r = admin(
            "triage",
            "f-1",
            "ana@example.com",
            1,
            serde_json::json!({"note": "Bearer abcdefghijklmnopqrstuvwxyz0123 was pasted"}),
        );
        let text = String::from_utf8(r.payload).unwrap();
        assert!(!text.contains("abcdefghijklmnop"), "{text}");
        assert!(text.contains("ana@example.com"), "{text}");
    }
}
