//! OCSF JSON: events already normalized by another tool or exported by midwatch itself.
//!
//! Accepts the classes midwatch knows, checks the OCSF arithmetic (`type_uid`,
//! `category_uid`, activity ids) and keeps the document's own `metadata.log_name`.

use crate::{ParseError, Parsed, RecordCtx, Source};
use midwatch_model::Event;

/// The OCSF source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ocsf;

impl Source for Ocsf {
    fn name(&self) -> &'static str {
        "ocsf"
    }

    fn parse(&self, raw: &[u8], _ctx: RecordCtx) -> Result<Parsed, ParseError> {
        let mut de = serde_json::Deserializer::from_slice(raw);
        let event: Event = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let path = err.path().to_string();
            let msg = err.into_inner().to_string();
            let msg = match msg.find(" at line ") {
                Some(i) => msg.get(..i).unwrap_or(&msg).to_string(),
                None => msg,
            };
            if path == "." {
                ParseError::record(msg)
            } else {
                ParseError::field(path, msg)
            }
        })?;
        de.end()
            .map_err(|_| ParseError::record("trailing characters after the JSON object"))?;
        event
            .validate()
            .map_err(|e| ParseError::record(e.to_string()))?;
        Ok(Parsed::Events(vec![event]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use midwatch_model::ClassUid;

    #[test]
    fn round_trips_midwatch_output() {
        let e = Event::new(ClassUid::FileHostingActivity, 2, 10, "e1");
        let json = e.to_ocsf_json();
        match Ocsf.parse(json.as_bytes(), RecordCtx::default()).unwrap() {
            Parsed::Events(v) => assert_eq!(v, vec![e]),
            Parsed::Skip(_) => panic!("skipped"),
        }
    }

    #[test]
    fn names_bad_fields() {
        let err = Ocsf
            .parse(br#"{"class_uid":3002,"category_uid":3,"activity_id":1,"type_uid":300201,"time":"noon","metadata":{"uid":"x"}}"#, RecordCtx::default())
            .unwrap_err();
        assert_eq!(err.path.as_deref(), Some("time"));
        let err = Ocsf
            .parse(br#"{"class_uid":3002,"category_uid":3,"activity_id":1,"type_uid":300202,"time":1,"metadata":{"uid":"x"}}"#, RecordCtx::default())
            .unwrap_err();
        assert!(err.to_string().contains("type_uid"), "{err}");
    }
}
