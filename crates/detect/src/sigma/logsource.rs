//! Which records a rule reads: its `logsource` mapped to a field space.
//!
//! - `product: midwatch` rules match the normalized event with its session context
//!   ([`super::midwatch`]). An optional `service` names the midwatch source the event came
//!   from (`metadata.log_name`: `sensor`, `okta`, …) and an optional `category` its OCSF
//!   class (`authentication`, `api_activity`, …); both become part of the rule's condition.
//! - Every other product is a vendor logsource: the rule matches the raw records of the
//!   midwatch sources that read that vendor's logs, unchanged, so SigmaHQ's rules run as
//!   written. The mapping follows the Sigma taxonomy appendix and the SigmaHQ cloud rules:
//!
//! | midwatch source | Sigma logsource | field lookup |
//! |---|---|---|
//! | `okta` | `product: okta`, `service: okta` | as the record spells it |
//! | `cloudtrail` | `product: aws`, `service: cloudtrail` | as the record spells it |
//! | `entra-signin` | `product: azure`, `service: signinlogs` | root, then under `properties` |
//! | `entra-audit` | `product: azure`, `service: auditlogs` | root, then under `properties` |
//! | `m365` | `product: m365`, `service: audit`, `exchange`, `threat_management`, `threat_detection` | as the record spells it |
//! | `github` | `product: github`, `service: audit` | as the record spells it |
//! | `gws` | `product: gcp`, `service: google_workspace.admin`, `google_workspace.login` | as the record spells it |
//!
//! A rule without `service` matches every source of its product; a vendor rule with a
//! `category` matches none (no midwatch source declares categories). Rules whose logsource
//! no source produces (`product: gcp, service: gcp.audit`, `azure` activity logs, Bitbucket,
//! OneLogin, Cisco Duo, …) still load: they are valid Sigma, reported as fed by no source.
//! Azure Monitor records keep most sign-in and audit fields under `properties`, where
//! SigmaHQ's rules name them at the top (`ResultType`, `userAgent`), hence the fallback.

use super::error::{LoadError, codes};
use super::rule::Logsource;
use super::yaml::{Ctx, Pos};
use midwatch_model::ClassUid;

/// The records a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSpace {
    /// `product: midwatch`: normalized events with session context.
    Midwatch,
    /// A vendor logsource, read from the raw records of these midwatch sources (none: no
    /// midwatch source produces this logsource).
    Vendor {
        /// Source names (`okta`, `cloudtrail`, …).
        sources: Vec<&'static str>,
    },
}

impl FieldSpace {
    /// Whether some midwatch input feeds rules of this space.
    pub fn is_fed(&self) -> bool {
        match self {
            FieldSpace::Midwatch => true,
            FieldSpace::Vendor { sources } => !sources.is_empty(),
        }
    }
}

/// A midwatch source that reads a vendor's raw records, and the logsources it produces.
#[derive(Debug, Clone, Copy)]
pub struct VendorFeed {
    /// Source name.
    pub source: &'static str,
    /// Sigma `product`.
    pub product: &'static str,
    /// Sigma `service`s.
    pub services: &'static [&'static str],
    /// A root key fields are also looked up under.
    pub fallback: Option<&'static str>,
}

/// Every vendor feed.
pub const VENDOR_FEEDS: &[VendorFeed] = &[
    VendorFeed {
        source: "okta",
        product: "okta",
        services: &["okta"],
        fallback: None,
    },
    VendorFeed {
        source: "cloudtrail",
        product: "aws",
        services: &["cloudtrail"],
        fallback: None,
    },
    VendorFeed {
        source: "entra-signin",
        product: "azure",
        services: &["signinlogs"],
        fallback: Some("properties"),
    },
    VendorFeed {
        source: "entra-audit",
        product: "azure",
        services: &["auditlogs"],
        fallback: Some("properties"),
    },
    VendorFeed {
        source: "m365",
        product: "m365",
        services: &["audit", "exchange", "threat_management", "threat_detection"],
        fallback: None,
    },
    VendorFeed {
        source: "github",
        product: "github",
        services: &["audit"],
        fallback: None,
    },
    VendorFeed {
        source: "gws",
        product: "gcp",
        services: &["google_workspace.admin", "google_workspace.login"],
        fallback: None,
    },
];

/// The vendor feed of a source name.
pub fn vendor_feed(source: &str) -> Option<&'static VendorFeed> {
    VENDOR_FEEDS.iter().find(|f| f.source == source)
}

/// midwatch's source names, for `product: midwatch` `service` values.
const MIDWATCH_SOURCES: &[&str] = &[
    "sensor",
    "ocsf",
    "okta",
    "cloudtrail",
    "entra-signin",
    "entra-audit",
    "m365",
    "github",
    "gws",
];

/// Whether `logsource` is midwatch's own.
pub fn is_midwatch(logsource: &Logsource) -> bool {
    logsource
        .product
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("midwatch"))
}

/// The field space of `logsource`.
pub fn field_space(logsource: &Logsource) -> FieldSpace {
    if is_midwatch(logsource) {
        return FieldSpace::Midwatch;
    }
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let sources = match (&logsource.product, &logsource.category) {
        (Some(product), None) => VENDOR_FEEDS
            .iter()
            .filter(|f| eq(f.product, product))
            .filter(|f| {
                logsource
                    .service
                    .as_deref()
                    .is_none_or(|s| f.services.iter().any(|fs| eq(fs, s)))
            })
            .map(|f| f.source)
            .collect(),
        _ => Vec::new(),
    };
    FieldSpace::Vendor { sources }
}

/// The extra conditions a midwatch logsource puts on events: the source names allowed
/// (`metadata.log_name`) and the OCSF class uid allowed (`class_uid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MidwatchScope {
    /// Required `metadata.log_name`.
    pub source: Option<String>,
    /// Required `class_uid`.
    pub class_uid: Option<u32>,
}

/// Check a `product: midwatch` logsource's `service` and `category`.
pub(crate) fn midwatch_scope(
    ctx: Ctx<'_>,
    service_pos: Pos,
    category_pos: Pos,
    logsource: &Logsource,
) -> Result<MidwatchScope, LoadError> {
    let mut scope = MidwatchScope::default();
    if let Some(service) = &logsource.service {
        let Some(s) = MIDWATCH_SOURCES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(service))
        else {
            return Err(ctx.err(
                service_pos,
                codes::MIDWATCH_LOGSOURCE,
                format!(
                    "`service: {service}` is not a midwatch source (one of {})",
                    MIDWATCH_SOURCES.join(", ")
                ),
            ));
        };
        scope.source = Some((*s).to_string());
    }
    if let Some(category) = &logsource.category {
        let Some(class) = ClassUid::ALL
            .into_iter()
            .find(|c| category_name(*c).eq_ignore_ascii_case(category))
        else {
            let names: Vec<String> = ClassUid::ALL.into_iter().map(category_name).collect();
            return Err(ctx.err(
                category_pos,
                codes::MIDWATCH_LOGSOURCE,
                format!(
                    "`category: {category}` is not an OCSF class midwatch knows (one of {})",
                    names.join(", ")
                ),
            ));
        };
        scope.class_uid = Some(class.uid());
    }
    Ok(scope)
}

/// The snake_case category name of an OCSF class (`Web Resources Activity` →
/// `web_resources_activity`).
pub fn category_name(class: ClassUid) -> String {
    class.name().to_ascii_lowercase().replace(' ', "_")
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "tests"
    )]
    use super::*;

    fn ls(product: &str, service: Option<&str>) -> Logsource {
        Logsource {
            product: Some(product.into()),
            service: service.map(Into::into),
            ..Logsource::default()
        }
    }

    #[test]
    fn logsources_map_to_sources() {
        let sources = |l: &Logsource| match field_space(l) {
            FieldSpace::Vendor { sources } => sources,
            FieldSpace::Midwatch => vec!["midwatch"],
        };
        assert_eq!(sources(&ls("okta", Some("okta"))), ["okta"]);
        assert_eq!(sources(&ls("aws", Some("cloudtrail"))), ["cloudtrail"]);
        assert_eq!(sources(&ls("azure", None)), ["entra-signin", "entra-audit"]);
        assert_eq!(sources(&ls("Azure", Some("SignInLogs"))), ["entra-signin"]);
        assert_eq!(
            sources(&ls("azure", Some("activitylogs"))),
            Vec::<&str>::new()
        );
        assert_eq!(sources(&ls("m365", Some("exchange"))), ["m365"]);
        assert_eq!(sources(&ls("gcp", Some("gcp.audit"))), Vec::<&str>::new());
        assert_eq!(sources(&ls("midwatch", None)), ["midwatch"]);
        let mut cat = ls("okta", None);
        cat.category = Some("authentication".into());
        assert_eq!(sources(&cat), Vec::<&str>::new());
    }

    #[test]
    fn every_feed_is_a_registered_source() {
        for f in VENDOR_FEEDS {
            assert!(MIDWATCH_SOURCES.contains(&f.source), "{}", f.source);
        }
        assert_eq!(
            category_name(ClassUid::WebResourcesActivity),
            "web_resources_activity"
        );
    }
}
