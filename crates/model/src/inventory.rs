//! Identity and application inventory: who may act, what they may reach.
//!
//! Loaded from a JSON or TOML file and through the HTTP API; events are enriched with it
//! (see [`Inventory::enrich`]). Identities resolve by id or by any alias (email, external
//! ids from each source), so one person's sessions across sources read as one story.

use crate::event::{AppFacts, Event, IdentityFacts, IdentityKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lifecycle state of an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// May sign in and act.
    #[default]
    Active,
    /// Temporarily barred.
    Suspended,
    /// Left the organisation; any activity is suspect.
    Offboarded,
}

impl Lifecycle {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "active",
            Lifecycle::Suspended => "suspended",
            Lifecycle::Offboarded => "offboarded",
        }
    }
}

/// What a non-human identity was approved to do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovedScope {
    /// App ids or domains it may use.
    #[serde(default)]
    pub apps: Vec<String>,
    /// Actions it may take (midwatch action names).
    #[serde(default)]
    pub actions: Vec<String>,
    /// Longest a session of it may live, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_lifetime_s: Option<u64>,
}

/// An identity in the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// midwatch identity id (usually the primary email or account name).
    pub id: String,
    /// Kind of principal.
    #[serde(default)]
    pub kind: IdentityKind,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Owner: a human identity id; required for non-humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// When the identity was offboarded, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offboarded_at: Option<i64>,
    /// Whether MFA is enrolled.
    #[serde(default)]
    pub mfa_enrolled: bool,
    /// Entitlements: roles and privileges held outside any session.
    #[serde(default)]
    pub entitlements: Vec<String>,
    /// Other names the identity appears under in sources (emails, external ids, handles).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// For agents and other non-humans: what they were approved to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_scope: Option<ApprovedScope>,
}

/// An application in the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// midwatch app id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The app's domain; subdomains belong to it.
    pub domain: String,
    /// Managed behind SSO.
    #[serde(default)]
    pub managed: bool,
    /// Sensitivity 0 (public) to 3 (critical).
    #[serde(default)]
    pub sensitivity: u8,
}

/// Why an inventory document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// Could not parse.
    #[error("{0}")]
    Parse(String),
    /// Parsed, but makes no sense.
    #[error("{what} `{id}`: {reason}")]
    Invalid {
        /// `identity` or `app`.
        what: &'static str,
        /// The offending id.
        id: String,
        /// Why.
        reason: String,
    },
}

/// The file form of an inventory: `identities` and `apps` lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryDoc {
    /// Identities.
    #[serde(default)]
    pub identities: Vec<Identity>,
    /// Apps.
    #[serde(default)]
    pub apps: Vec<App>,
}

/// Identities and apps, indexed for enrichment.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    identities: BTreeMap<String, Identity>,
    aliases: BTreeMap<String, String>,
    apps: BTreeMap<String, App>,
    domains: BTreeMap<String, String>,
}

impl Identity {
    /// Check the invariants the rest of midwatch relies on.
    pub fn validate(&self) -> Result<(), InventoryError> {
        let invalid = |reason: &str| InventoryError::Invalid {
            what: "identity",
            id: self.id.clone(),
            reason: reason.to_string(),
        };
        if self.id.trim().is_empty() {
            return Err(invalid("id must not be empty"));
        }
        if self.kind != IdentityKind::Human && self.owner.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("a non-human identity needs an `owner`"));
        }
        Ok(())
    }
}

impl App {
    /// Check the invariants the rest of midwatch relies on.
    pub fn validate(&self) -> Result<(), InventoryError> {
        let invalid = |reason: &str| InventoryError::Invalid {
            what: "app",
            id: self.id.clone(),
            reason: reason.to_string(),
        };
        if self.id.trim().is_empty() {
            return Err(invalid("id must not be empty"));
        }
        if self.domain.trim().is_empty() || self.domain.contains('/') {
            return Err(invalid("domain must be a bare host name"));
        }
        if self.sensitivity > 3 {
            return Err(invalid("sensitivity must be 0 to 3"));
        }
        Ok(())
    }
}

impl InventoryDoc {
    /// Parse JSON (when the text starts with `{`) or else TOML.
    pub fn parse(text: &str) -> Result<InventoryDoc, InventoryError> {
        if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| InventoryError::Parse(e.to_string()))
        } else {
            toml::from_str(text)
                .map_err(|e| InventoryError::Parse(e.to_string().trim().to_string()))
        }
    }
}

impl Inventory {
    /// Build from a document, validating every entry.
    pub fn from_doc(doc: InventoryDoc) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory::default();
        for i in doc.identities {
            inv.upsert_identity(i)?;
        }
        for a in doc.apps {
            inv.upsert_app(a)?;
        }
        Ok(inv)
    }

    /// Add or replace an identity.
    pub fn upsert_identity(&mut self, identity: Identity) -> Result<(), InventoryError> {
        identity.validate()?;
        if let Some(old) = self.identities.get(&identity.id) {
            for a in &old.aliases {
                self.aliases.remove(&a.to_lowercase());
            }
        }
        self.aliases
            .insert(identity.id.to_lowercase(), identity.id.clone());
        for a in &identity.aliases {
            self.aliases.insert(a.to_lowercase(), identity.id.clone());
        }
        self.identities.insert(identity.id.clone(), identity);
        Ok(())
    }

    /// Add or replace an app.
    pub fn upsert_app(&mut self, app: App) -> Result<(), InventoryError> {
        app.validate()?;
        if let Some(old) = self.apps.get(&app.id) {
            self.domains.remove(&old.domain.to_lowercase());
        }
        self.domains
            .insert(app.domain.to_lowercase(), app.id.clone());
        self.apps.insert(app.id.clone(), app);
        Ok(())
    }

    /// Resolve an id or alias (case-insensitive) to an identity.
    pub fn identity(&self, id_or_alias: &str) -> Option<&Identity> {
        if let Some(i) = self.identities.get(id_or_alias) {
            return Some(i);
        }
        let id = self.aliases.get(&id_or_alias.to_lowercase())?;
        self.identities.get(id)
    }

    /// Resolve a host name to the app whose domain it is or is under.
    pub fn app_for_host(&self, host: &str) -> Option<&App> {
        let host = host.trim_end_matches('.').to_lowercase();
        let mut rest = host.as_str();
        loop {
            if let Some(id) = self.domains.get(rest) {
                return self.apps.get(id);
            }
            match rest.split_once('.') {
                Some((_, tail)) if tail.contains('.') => rest = tail,
                _ => return None,
            }
        }
    }

    /// An app by id.
    pub fn app(&self, id: &str) -> Option<&App> {
        self.apps.get(id)
    }

    /// All identities, by id.
    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        self.identities.values()
    }

    /// All apps, by id.
    pub fn apps(&self) -> impl Iterator<Item = &App> {
        self.apps.values()
    }

    /// Number of identities and apps.
    pub fn len(&self) -> (usize, usize) {
        (self.identities.len(), self.apps.len())
    }

    /// True when there is nothing in the inventory.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty() && self.apps.is_empty()
    }

    /// Add inventory facts to an event: the actor's identity and the app. The resolved
    /// identity id (`midwatch.identity.uid`) is what sessions and queries key on, so every
    /// source's view of one person reads as one story.
    pub fn enrich(&self, event: &mut Event) {
        let actor_uid = event
            .actor
            .user
            .as_ref()
            .and_then(|u| u.uid.as_deref().or(u.email_addr.as_deref()));
        if let Some(identity) = actor_uid.and_then(|uid| self.identity(uid)) {
            event.midwatch.identity = Some(Box::new(IdentityFacts {
                uid: identity.id.clone(),
                kind: identity.kind,
                lifecycle: identity.lifecycle.as_str().to_string(),
                owner: identity.owner.clone(),
                mfa_enrolled: Some(identity.mfa_enrolled),
            }));
        }
        if let Some(app) = event.app_domain().and_then(|h| self.app_for_host(h)) {
            event.midwatch.app = Some(Box::new(AppFacts {
                uid: app.id.clone(),
                managed: app.managed,
                sensitivity: app.sensitivity,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ClassUid, DstEndpoint, User};

    fn inv() -> Inventory {
        let doc: InventoryDoc = serde_json::from_str(
            r#"{
              "identities": [
                {"id": "alice@example.com", "aliases": ["00u1", "alice-gh"], "mfa_enrolled": true},
                {"id": "build-bot", "kind": "service_account", "owner": "alice@example.com",
                 "approved_scope": {"apps": ["github"], "actions": ["api_call"], "max_session_lifetime_s": 3600}}
              ],
              "apps": [{"id": "github", "domain": "github.com", "managed": true, "sensitivity": 3}]
            }"#,
        )
        .unwrap();
        Inventory::from_doc(doc).unwrap()
    }

    #[test]
    fn resolves_aliases_and_subdomains() {
        let inv = inv();
        assert_eq!(inv.identity("ALICE-GH").unwrap().id, "alice@example.com");
        assert_eq!(inv.identity("00u1").unwrap().id, "alice@example.com");
        assert!(inv.identity("bob").is_none());
        assert_eq!(inv.app_for_host("api.github.com").unwrap().id, "github");
        assert_eq!(inv.app_for_host("GitHub.com.").unwrap().id, "github");
        assert!(inv.app_for_host("gitlab.com").is_none());
        assert!(inv.app_for_host("com").is_none());
    }

    #[test]
    fn enriches_events() {
        let inv = inv();
        let mut e = Event::new(ClassUid::Authentication, 1, 0, "e");
        e.actor.user = Some(Box::new(User::new("00u1", IdentityKind::Human)));
        e.dst_endpoint = Some(Box::new(DstEndpoint {
            hostname: Some("gist.github.com".into()),
            svc_name: None,
        }));
        inv.enrich(&mut e);
        let id = e.midwatch.identity.unwrap();
        assert_eq!(id.uid, "alice@example.com");
        assert_eq!(id.lifecycle, "active");
        let app = e.midwatch.app.unwrap();
        assert!(app.managed);
        assert_eq!(app.sensitivity, 3);
    }

    #[test]
    fn refuses_ownerless_non_humans_and_bad_apps() {
        let doc: InventoryDoc =
            serde_json::from_str(r#"{"identities":[{"id":"bot","kind":"ai_agent"}]}"#).unwrap();
        let err = Inventory::from_doc(doc).unwrap_err();
        assert_eq!(
            err.to_string(),
            "identity `bot`: a non-human identity needs an `owner`"
        );
        let doc: InventoryDoc =
            serde_json::from_str(r#"{"apps":[{"id":"x","domain":"a.com","sensitivity":9}]}"#)
                .unwrap();
        assert!(Inventory::from_doc(doc).is_err());
        assert!(InventoryDoc::parse(r#"{"identities":[{"id":"a","kidn":"human"}]}"#).is_err());
    }

    #[test]
    fn parses_toml() {
        let doc = InventoryDoc::parse(
            "[[identities]]\nid = \"bob\"\nlifecycle = \"offboarded\"\n\n[[apps]]\nid = \"notion\"\ndomain = \"notion.so\"\n",
        )
        .unwrap();
        assert_eq!(doc.identities[0].lifecycle, Lifecycle::Offboarded);
        assert_eq!(doc.apps[0].domain, "notion.so");
        let err = InventoryDoc::parse("[[identities]]\nid = 3\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
