//! The invariants every fuzz target checks, shared so each target is one line.
//!
//! For any input bytes, a registered source must:
//! - never panic, in `parse` or in the shared framing (`normalize_bytes`);
//! - give a reason for every record it rejects or skips;
//! - accept only events that pass `Event::validate`;
//! - accept only events that survive `to_ocsf_json` → `Event::from_ocsf_json` unchanged;
//! - through the framing, stamp every event with its raw-record reference;
//! - read one plain NDJSON line through the framing exactly as `parse` reads it.
//!
//! A broken invariant panics, which libFuzzer reports as a crash with the input saved.

use midwatch_model::Event;
use midwatch_sources::{Limits, Parsed, RecordCtx, Source, by_name, normalize_bytes, stamp};

/// Run every invariant for the source registered as `name` on `data`.
pub fn check(name: &str, data: &[u8]) {
    let Some(source) = by_name(name) else {
        panic!("no source is registered as `{name}`");
    };
    let ctx = RecordCtx { line: 1, offset: 0 };
    let parsed = source.parse(data, ctx);
    match &parsed {
        Ok(Parsed::Events(events)) => events.iter().for_each(|e| check_event(name, e)),
        Ok(Parsed::Skip(note)) => assert!(!note.trim().is_empty(), "{name}: skip without a note"),
        Err(err) => assert!(
            !err.to_string().trim().is_empty(),
            "{name}: rejection without a reason"
        ),
    }

    let limits = Limits::default();
    let out = normalize_bytes(source, data, &limits);
    for e in &out.events {
        check_event(name, e);
        let Some(raw) = e.midwatch.raw.as_deref() else {
            panic!("{name}: framed event `{}` has no raw reference", e.uid());
        };
        assert_eq!(
            raw.source, name,
            "{name}: raw reference names another source"
        );
        assert!(
            midwatch_model::hash::is_sha256_hex(&raw.sha256),
            "{name}: raw reference hash `{}` is not SHA-256 hex",
            raw.sha256
        );
        assert!(
            e.metadata.log_name.is_some(),
            "{name}: framed event has no log_name"
        );
    }
    for r in out.rejects.iter().chain(&out.skipped) {
        assert!(
            !r.reason.trim().is_empty(),
            "{name}: line {} has no reason",
            r.line
        );
    }

    if is_one_plain_line(data, &limits) {
        framing_matches_parse(source, data, ctx, parsed, &out.events);
    }
}

/// The OCSF invariants for one accepted event.
fn check_event(name: &str, e: &Event) {
    if let Err(err) = e.validate() {
        panic!("{name}: accepted an invalid event ({err}): {e:?}");
    }
    let json = e.to_ocsf_json();
    assert!(!json.is_empty(), "{name}: event does not serialize: {e:?}");
    match Event::from_ocsf_json(&json) {
        Ok(back) => assert_eq!(
            &back, e,
            "{name}: OCSF round trip changed the event: {json}"
        ),
        Err(err) => panic!("{name}: own OCSF output does not read back ({err}): {json}"),
    }
}

/// True when the framing hands `data` to the source whole, as one NDJSON line: one line,
/// not blank, not a JSON array, no trailing `\r`, within the length limit.
fn is_one_plain_line(data: &[u8], limits: &Limits) -> bool {
    let first = data.iter().find(|b| !b.is_ascii_whitespace());
    first.is_some_and(|b| *b != b'[')
        && !data.contains(&b'\n')
        && !data.ends_with(b"\r")
        && data.len() <= limits.max_line_bytes
}

/// The framing's events for a one-line input are `parse`'s, stamped.
fn framing_matches_parse(
    source: &dyn Source,
    data: &[u8],
    ctx: RecordCtx,
    parsed: Result<Parsed, midwatch_sources::ParseError>,
    framed: &[Event],
) {
    let name = source.name();
    let mut expected = match parsed {
        Ok(Parsed::Events(events)) => events,
        _ => Vec::new(),
    };
    let sha = midwatch_model::hash::Sha256Hex::of(data);
    for e in &mut expected {
        stamp(e, name, sha, ctx);
    }
    assert_eq!(
        expected, framed,
        "{name}: the framing read one line differently from `parse`"
    );
}

/// Run the rule-loading invariants on `data` read as a rule file: loading, compiling and
/// matching never panic; every refusal carries a stable code and a message; a loaded rule
/// evaluates its own examples and a sample record without panicking; correlation documents
/// parse or are refused with a code.
pub fn check_rules(data: &[u8]) {
    use midwatch_detect::sigma::{Engine, LoadOptions, correlation, load_str};
    let text = String::from_utf8_lossy(data);
    let mut opts = LoadOptions::default();
    opts.placeholders
        .insert("admins".into(), vec!["root".into(), "adm*".into()]);
    let report = load_str(&text, "fuzz.yml", &opts);
    for e in &report.unsupported {
        assert!(!e.code.is_empty(), "load error without a code: {e}");
        assert!(!e.message.trim().is_empty(), "load error without a message");
    }
    for doc in &report.correlation_docs {
        if let Err(e) = correlation::parse(&doc.yaml, &doc.file) {
            assert!(!e.code.is_empty(), "correlation error without a code: {e}");
        }
    }
    for rule in &report.rules {
        for ex in &rule.meta.examples {
            let _ = rule.is_match(&ex.doc);
        }
    }
    let engine = Engine::new(report.rules);
    let mut out = Vec::new();
    for (source, record) in SAMPLES {
        let _ = engine.match_raw(source, record.as_bytes(), &mut out);
    }
}

/// One small record per vendor feed, for compiled rules to run over.
const SAMPLES: &[(&str, &str)] = &[
    (
        "okta",
        r#"{"eventType":"user.session.start","actor":{"alternateId":"a@example.com"},"client":{"ipAddress":"192.0.2.1","zone":"null"},"outcome":{"result":"SUCCESS"},"debugContext":{"debugData":{"requestUri":"/login"}}}"#,
    ),
    (
        "cloudtrail",
        r#"{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userIdentity":{"type":"IAMUser","userName":"bob"},"sourceIPAddress":"198.51.100.2","requestParameters":{"userName":"alice"}}"#,
    ),
    (
        "github",
        r#"{"action":"repo.destroy","actor":"bob","org":"example","created_at":1700000000000}"#,
    ),
];

/// Evidence formats: any bytes read as a segment or as a bundle give a report, never a
/// panic; a bundle is never called intact unless it verifies record by record, and a damaged
/// segment is never called intact with records it cannot account for.
pub fn check_evidence(data: &[u8]) {
    use midwatch_evidence::codec::{Frames, SegmentHeader, decode_record, record_seq};
    use midwatch_evidence::sign::{Checkpoint, Signer, Tombstone};
    use midwatch_evidence::verify::{Options, Status};
    let pk = Signer::from_seed(&[42; 32]).public_key();
    for f in Frames::new(data) {
        let whole = decode_record(f.body).map(|(h, _)| h.seq);
        assert_eq!(
            whole.ok(),
            record_seq(f.body).ok(),
            "record_seq disagrees with decode_record"
        );
        let _ = Checkpoint::decode(f.body).map(|c| c.verify(&pk));
        let _ = Tombstone::decode(f.body).map(|t| t.verify(&pk));
        let _ = SegmentHeader::decode(f.body);
    }
    let (records, problem) = midwatch_evidence::verify::verify_segment_bytes(data, 1, &pk);
    if problem.is_none() {
        assert!(
            Frames::new(data).count() as u64 > records,
            "records without a header"
        );
    }
    let report = midwatch_evidence::bundle::verify_bundle_bytes(data, "input", &Options::default());
    assert!(
        report.status != Status::Intact || report.problem.is_none(),
        "intact with a problem"
    );
    if report.status == Status::Intact {
        assert!(midwatch_evidence::bundle::tar::read(data).is_ok());
    }
}
