//! GitHub audit log: organisation and enterprise audit-log records, as the REST API, the
//! audit-log export and audit-log streaming (Splunk, Azure Event Hubs, S3, Datadog, …) emit
//! them — one JSON object per event, keyed by `action` (`user.login`, `repo.download_zip`,
//! `personal_access_token.create`, `api.request`, …).
//!
//! Quirks handled:
//! - Time arrives as `@timestamp` or `created_at`, as epoch milliseconds (number or string)
//!   or RFC 3339 text; older organisation exports carry only `created_at`.
//! - `org` and `org_id` are sometimes arrays (`[]`, `[163237012]`) on personal-account
//!   events; the first element is used.
//! - `hashed_token` is GitHub's base64 SHA-256 of the token; it becomes the hex fingerprint
//!   `sha256:<hex>`. A value that is not a base64 SHA-256 (seen in vendor samples) is
//!   fingerprinted as an opaque identifier instead, so it still keys the same token.
//! - On token lifecycle events (`personal_access_token.create`, `oauth_access.create`, …)
//!   `hashed_token` names the token being created or revoked, not the credential the actor
//!   used: it goes to `entity.uid`, and the web action itself has no session. On every other
//!   event it is the credential the action rode on and becomes the session key.
//! - `actor_location` carries an ISO country code in streams and a country name (and
//!   sometimes the IP) in other exports; both are read.
//! - GitHub has no session id: token-authenticated actions are keyed by the token's
//!   fingerprint; web actions carry no session.

use crate::lenient;
use crate::{ParseError, Parsed, RecordCtx, Source};
use midwatch_model::event::{
    Api, ApiService, AuthFactor, DstEndpoint, Entity, HttpRequest, Location, ProductRef,
    SessionRef, SrcEndpoint, Url, User, WebResource,
};
use midwatch_model::hash::{is_sha256_hex, to_hex, token_fingerprint};
use midwatch_model::{ClassUid, Event, IdentityKind, StatusId};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// The `github` source: GitHub organisation and enterprise audit-log records.
#[derive(Debug, Clone, Copy, Default)]
pub struct GitHub;

const SOURCE: &str = "github";
const APP_DOMAIN: &str = "github.com";
const APP_NAME: &str = "GitHub";

/// One audit-log record. Every field is read leniently; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Record {
    #[serde(rename = "@timestamp", deserialize_with = "lenient::time")]
    timestamp: Option<i64>,
    #[serde(deserialize_with = "lenient::time")]
    created_at: Option<i64>,
    #[serde(rename = "_document_id", deserialize_with = "lenient::string")]
    document_id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    action: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    actor: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    actor_id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    actor_ip: Option<String>,
    #[serde(deserialize_with = "lenient::bool")]
    actor_is_bot: Option<bool>,
    #[serde(deserialize_with = "object")]
    actor_location: Option<ActorLocation>,
    #[serde(deserialize_with = "lenient::string")]
    user: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    user_id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    email: Option<String>,
    #[serde(deserialize_with = "first_string")]
    org: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    business: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    repo: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    repository: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    repo_id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    team: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    hashed_token: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    token_id: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    token_scopes: Vec<String>,
    #[serde(deserialize_with = "lenient::string")]
    programmatic_access_type: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    user_programmatic_access_name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    oauth_application_id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    oauth_application_name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    oauth_application: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    integration: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    hook_id: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    repositories_added_names: Vec<String>,
    #[serde(deserialize_with = "lenient::strings")]
    repositories_removed_names: Vec<String>,
    #[serde(deserialize_with = "lenient::string")]
    user_agent: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    operation_type: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    permission: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    old_permission: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    role: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    new_role: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    old_role: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    request_id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    transport_protocol_name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    external_identity_nameid: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    request_method: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    url_path: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    route: Option<String>,
    #[serde(deserialize_with = "lenient::u64")]
    status_code: Option<u64>,
    #[serde(deserialize_with = "lenient::string")]
    message: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    login_method: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    explanation: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    reason: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    visibility: Option<String>,
    #[serde(deserialize_with = "object")]
    data: Option<Data>,
}

/// `actor_location`: an ISO code in streams, a country name (and the IP) in some exports.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActorLocation {
    #[serde(deserialize_with = "lenient::string")]
    country_code: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    country_name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    city: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    ip: Option<String>,
    #[serde(deserialize_with = "object")]
    location: Option<LatLon>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LatLon {
    #[serde(deserialize_with = "lenient::f64")]
    lat: Option<f64>,
    #[serde(deserialize_with = "lenient::f64")]
    lon: Option<f64>,
}

/// The `data` object older organisation exports nest some details in.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Data {
    #[serde(deserialize_with = "lenient::string")]
    team: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    permission: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    old_user: Option<String>,
}

/// A nested object read as `T`; `None` for null and for values that are not objects, so a
/// vendor sending a string or an array where an object belongs costs only that field.
fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<T>, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// A string, or the first usable element of an array (`"org": ["acme"]`).
fn first_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(lenient::strings(d)?.into_iter().next())
}

/// Parse a vendor record, turning serde's complaint into a rejection reason. Non-objects are
/// refused up front: lenient structs would otherwise accept a JSON array positionally.
fn parse_json<'a, T: Deserialize<'a>>(raw: &'a [u8]) -> Result<T, ParseError> {
    if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ParseError::record("record is not a JSON object"));
    }
    serde_json::from_slice(raw).map_err(|e| {
        let msg = e.to_string();
        let msg = msg
            .find(" at line ")
            .map_or(msg.as_str(), |i| msg.get(..i).unwrap_or(""));
        match e.classify() {
            serde_json::error::Category::Data => ParseError::record(msg.to_string()),
            _ => ParseError::record(format!("not valid JSON: {msg}")),
        }
    })
}

/// Decode standard or URL-safe base64 (padding optional); `None` on any other character.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// `sha256:<hex>` for GitHub's `hashed_token`: its base64 SHA-256 converted to hex, a hex
/// SHA-256 kept, anything else fingerprinted as an opaque identifier.
fn hashed_token_fingerprint(h: &str) -> String {
    let h = h.trim();
    if is_sha256_hex(h) {
        return format!("sha256:{}", h.to_ascii_lowercase());
    }
    match base64_decode(h) {
        Some(bytes) if bytes.len() == 32 => format!("sha256:{}", to_hex(&bytes)),
        _ => token_fingerprint(h),
    }
}

/// How the action's class, activity and midwatch action are chosen.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    class: ClassUid,
    activity: u32,
    action: Option<&'static str>,
    status: StatusId,
    /// What `hashed_token` means on this action.
    token: TokenRole,
    /// The entity type for Entity Management events.
    entity: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenRole {
    /// The credential the actor used.
    Credential,
    /// The token the action creates or revokes.
    Subject,
}

const fn m(class: ClassUid, activity: u32, action: Option<&'static str>) -> Mapping {
    Mapping {
        class,
        activity,
        action,
        status: StatusId::Success,
        token: TokenRole::Credential,
        entity: None,
    }
}

impl Mapping {
    const fn status(mut self, s: StatusId) -> Mapping {
        self.status = s;
        self
    }
    const fn entity(mut self, t: &'static str) -> Mapping {
        self.entity = Some(t);
        self
    }
    const fn subject(mut self) -> Mapping {
        self.token = TokenRole::Subject;
        self
    }
}

/// Activity for an `operation_type` (create, access, modify, remove, …) or, failing that,
/// for the verb that ends the action name.
fn verb_activity(op: Option<&str>, verb: &str) -> u32 {
    match op {
        Some("create") => return 1,
        Some("access") => return 2,
        Some("modify") => return 3,
        Some("remove") => return 4,
        _ => {}
    }
    if verb.starts_with("create") || verb.starts_with("add") || verb == "install" {
        1
    } else if verb.starts_with("destroy")
        || verb.starts_with("delete")
        || verb.starts_with("remove")
        || verb.starts_with("revoke")
    {
        4
    } else if verb.starts_with("update")
        || verb.starts_with("change")
        || verb.starts_with("edit")
        || verb.starts_with("rename")
        || verb.starts_with("set")
        || verb.starts_with("enable")
        || verb.starts_with("disable")
        || verb.ends_with("enabled")
        || verb.ends_with("disabled")
    {
        3
    } else if verb.starts_with("view") || verb.starts_with("list") || verb == "read" {
        2
    } else {
        99
    }
}

/// Entity Management activity for a verb.
fn entity_activity(verb: &str) -> u32 {
    match verb {
        v if v.starts_with("create") || v.starts_with("add") || v == "install" => 1,
        v if v.starts_with("destroy") || v.starts_with("delete") || v.starts_with("remove") => 4,
        v if v.starts_with("revoke") || v.starts_with("uninstall") => 4,
        "transfer" | "transfer_start" => 5,
        v if v.starts_with("enable") => 8,
        v if v.starts_with("disable") => 9,
        "suspend" => 12,
        "unsuspend" => 13,
        _ => 3,
    }
}

/// Map a GitHub `action` to OCSF.
fn classify(action: &str, op: Option<&str>) -> Mapping {
    use ClassUid::*;
    let (family, verb) = action.split_once('.').unwrap_or((action, ""));
    match action {
        "user.login" => return m(Authentication, 1, Some("login")),
        "user.failed_login" => {
            return m(Authentication, 1, Some("login")).status(StatusId::Failure);
        }
        "user.logout" => return m(Authentication, 2, Some("logout")),
        "org.sso_response" | "business.sso_response" => {
            return m(Authentication, 1, Some("login")).status(StatusId::Unknown);
        }
        "user.two_factor_requested" | "user.device_verification_requested" => {
            return m(Authentication, 99, Some("mfa_challenge")).status(StatusId::Unknown);
        }
        "user.two_factor_challenge_success" | "user.device_verification_success" => {
            return m(Authentication, 99, Some("mfa_challenge"));
        }
        "user.two_factor_challenge_failure" | "user.device_verification_failure" => {
            return m(Authentication, 99, Some("mfa_challenge")).status(StatusId::Failure);
        }
        "two_factor_authentication.enabled" | "two_factor_authentication.add_factor" => {
            return m(AccountChange, 10, Some("mfa_enroll"));
        }
        "two_factor_authentication.disabled" | "two_factor_authentication.remove_factor" => {
            return m(AccountChange, 11, Some("mfa_remove"));
        }
        "user.change_password" => return m(AccountChange, 3, Some("password_change")),
        "user.reset_password" => return m(AccountChange, 4, Some("password_change")),
        "user.create" => return m(AccountChange, 1, Some("account_create")),
        "user.delete" => return m(AccountChange, 6, None),
        "user.suspend" => return m(AccountChange, 5, Some("account_disable")),
        "user.unsuspend" => return m(AccountChange, 2, None),
        "user.forgot_password" | "user.two_factor_recovery_codes_downloaded" => {
            return m(AccountChange, 99, None);
        }
        "user.new_device_used"
        | "user.sign_in_from_unrecognized_device"
        | "user.sign_in_from_unrecognized_device_and_location" => return m(ApiActivity, 99, None),
        "repo.access" => return m(ApiActivity, 3, None),
        "user.promote" => return m(UserAccessManagement, 1, Some("privilege_grant")),
        "user.demote" => return m(UserAccessManagement, 2, Some("privilege_revoke")),
        "api.request" => return m(ApiActivity, 99, Some("api_call")),
        "repo.download_zip" | "git.clone" | "git.fetch" => {
            return m(FileHostingActivity, 2, Some("download"));
        }
        "git.push" => return m(FileHostingActivity, 1, Some("upload")),
        "protected_branch.rejected_ref_update" => {
            return m(WebResourceAccessActivity, 2, Some("access_denied"))
                .status(StatusId::Failure);
        }
        "protected_branch.policy_override" => return m(WebResourceAccessActivity, 1, None),
        "oauth_authorization.create" | "org.oauth_app_access_approved" => {
            return m(EntityManagement, 1, Some("oauth_consent"))
                .entity("oauth_grant")
                .subject();
        }
        "oauth_authorization.destroy" | "org.oauth_app_access_revoked" => {
            return m(EntityManagement, 4, Some("token_revoke"))
                .entity("oauth_grant")
                .subject();
        }
        "org.oauth_app_access_denied" => {
            return m(EntityManagement, 99, None)
                .entity("oauth_grant")
                .status(StatusId::Failure);
        }
        "org.invite_member" | "business.invite_admin" | "business.invite_billing_manager" => {
            return m(EntityManagement, 1, None).entity("invitation");
        }
        _ => {}
    }
    if verb.ends_with("audit_log_export") || verb.ends_with("git_event_export") {
        return m(WebResourcesActivity, 7, Some("export"));
    }
    match family {
        "personal_access_token" | "oauth_access" | "public_key" | "deploy_key" => {
            let entity = match family {
                "public_key" => "ssh_key",
                "deploy_key" => "deploy_key",
                _ => "api_token",
            };
            let base = match verb {
                "create" | "regenerate" | "request_created" | "access_granted" => {
                    m(EntityManagement, 1, Some("token_create"))
                }
                "destroy" | "delete" | "access_revoked" | "revoke" => {
                    m(EntityManagement, 4, Some("token_revoke"))
                }
                "request_denied" => m(EntityManagement, 99, None).status(StatusId::Failure),
                "request_cancelled" => m(EntityManagement, 99, None),
                _ => m(EntityManagement, 3, None),
            };
            return base.entity(entity).subject();
        }
        "oauth_application" | "integration_installation" | "integration" | "hook" => {
            let entity = match family {
                "oauth_application" => "oauth_app",
                "integration_installation" => "app_installation",
                "integration" => "github_app",
                _ => "webhook",
            };
            return m(EntityManagement, entity_activity(verb), None).entity(entity);
        }
        "protected_branch" | "required_status_check" | "repository_ruleset" => {
            return m(EntityManagement, entity_activity(verb), None).entity("branch_protection");
        }
        "two_factor_authentication" => return m(AccountChange, 99, None),
        _ => {}
    }
    let membership = verb.starts_with("add_")
        || verb.starts_with("remove_")
        || verb.starts_with("update_")
        || verb.ends_with("_permission")
        || verb == "promote_to_owner"
        || verb == "demote_to_member";
    let about_access = verb.contains("member")
        || verb.contains("admin")
        || verb.contains("owner")
        || verb.contains("billing_manager")
        || verb.contains("collaborator")
        || verb.contains("permission")
        || verb.contains("repository")
        || verb.contains("maintainer");
    if membership && about_access && family != "user" {
        return if verb.starts_with("remove_") || verb.starts_with("demote") {
            m(UserAccessManagement, 2, Some("privilege_revoke"))
        } else {
            m(UserAccessManagement, 1, Some("privilege_grant"))
        };
    }
    if family == "user" && verb.starts_with("two_factor") {
        return m(AccountChange, 99, None);
    }
    m(ApiActivity, verb_activity(op, verb), None)
}

/// The identity kind of a GitHub actor login.
fn actor_kind(r: &Record) -> IdentityKind {
    let pat = r.programmatic_access_type.as_deref().unwrap_or("");
    let pat_lower = pat.to_ascii_lowercase();
    if pat_lower.contains("deploy key") {
        IdentityKind::ApiKey
    } else if r.actor_is_bot == Some(true)
        || r.actor.as_deref().is_some_and(|a| a.ends_with("[bot]"))
        || pat_lower.contains("server-to-server")
    {
        IdentityKind::ServiceAccount
    } else {
        IdentityKind::Human
    }
}

/// midwatch auth method for a `programmatic_access_type`.
fn programmatic_auth(pat: &str) -> &'static str {
    let l = pat.to_ascii_lowercase();
    if l.contains("ssh key") || l.contains("deploy key") {
        "api_key"
    } else {
        "token"
    }
}

fn login_method_auth(m: &str) -> Option<&'static str> {
    match m.to_ascii_lowercase().as_str() {
        "password" => Some("password"),
        "passkey" | "webauthn" => Some("passkey"),
        "saml" | "sso" | "oidc" => Some("sso"),
        _ => None,
    }
}

/// Path part of a URL or path, without query string or fragment.
fn strip_query(p: &str) -> &str {
    let p = p.split('#').next().unwrap_or(p);
    p.split('?').next().unwrap_or(p)
}

/// The user an action was done to, by login.
fn target_user(login: &str) -> User {
    let kind = if login.ends_with("[bot]") {
        IdentityKind::ServiceAccount
    } else {
        IdentityKind::Human
    };
    User::new(login, kind)
}

impl Source for GitHub {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn parse(&self, raw: &[u8], _ctx: RecordCtx) -> Result<Parsed, ParseError> {
        let r: Record = parse_json(raw)?;
        Ok(Parsed::Events(vec![to_event(r, raw)?]))
    }
}

fn to_event(r: Record, raw: &[u8]) -> Result<Event, ParseError> {
    let Some(action) = r.action.clone().filter(|a| !a.trim().is_empty()) else {
        return Err(ParseError::field(
            "action",
            "missing: the record names no event",
        ));
    };
    let time = r.timestamp.or(r.created_at).ok_or_else(|| {
        ParseError::field(
            "created_at",
            "missing or not a time (and no usable `@timestamp`)",
        )
    })?;
    let mut mapping = classify(&action, r.operation_type.as_deref());
    if action == "api.request" {
        mapping.activity = match r
            .request_method
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            Some("POST") => 1,
            Some("GET" | "HEAD") => 2,
            Some("PUT" | "PATCH") => 3,
            Some("DELETE") => 4,
            _ => 99,
        };
    }
    let uid = r
        .document_id
        .clone()
        .unwrap_or_else(|| crate::derived_uid(SOURCE, raw));
    let mut e = Event::new(mapping.class, mapping.activity, time, uid);
    if mapping.class == ClassUid::Authentication && mapping.activity == 99 {
        e.activity_name = Some("MFA Challenge".into());
    }
    e.metadata.product = ProductRef {
        name: "GitHub Audit Log".into(),
        vendor_name: "GitHub".into(),
    };
    e.metadata.original_event_uid = r.document_id.clone();
    e.metadata.event_code = Some(action.clone());
    e.message = r.message.clone();
    e.set_status(mapping.status);

    let fingerprint = r
        .hashed_token
        .as_deref()
        .map(hashed_token_fingerprint)
        .or_else(|| {
            r.token_id
                .as_deref()
                .map(|id| token_fingerprint(&format!("github:token_id:{id}")))
        });
    let programmatic = r.programmatic_access_type.is_some() || fingerprint.is_some();
    let uses_credential = programmatic && mapping.token == TokenRole::Credential;

    // Who acted.
    let kind = actor_kind(&r);
    let actor_uid = r.actor.clone().or_else(|| r.actor_id.clone());
    if let Some(uid) = &actor_uid {
        let mut u = User::new(uid.clone(), kind);
        u.email_addr = r
            .external_identity_nameid
            .clone()
            .filter(|n| n.contains('@'));
        e.actor.user = Some(Box::new(u));
    }
    e.actor.app_name = r
        .oauth_application_name
        .clone()
        .or_else(|| r.oauth_application.clone())
        .filter(|_| mapping.entity.is_none());
    if uses_credential {
        e.actor.session = fingerprint.clone().map(|c| {
            Box::new(SessionRef {
                credential_uid: Some(c),
                ..SessionRef::default()
            })
        });
        if let Some(pat) = &r.programmatic_access_type {
            e.auth_protocol = Some(programmatic_auth(pat).into());
        } else {
            e.auth_protocol = Some("token".into());
        }
        e.auth_protocol_id = Some(99);
    } else if mapping.class == ClassUid::Authentication && mapping.activity == 1 {
        let method = r.login_method.as_deref().and_then(login_method_auth).or(
            if action.ends_with("sso_response") {
                Some("sso")
            } else {
                None
            },
        );
        if let Some(m) = method {
            e.auth_protocol = Some(m.into());
            e.auth_protocol_id = Some(99);
        }
    }

    // midwatch action: API requests made with a token are token use.
    e.midwatch.action = match (action.as_str(), uses_credential) {
        ("api.request", true) => Some("token_use".into()),
        (_, _) => mapping.action.map(Into::into),
    };
    if action == "api.request"
        && let Some(code) = r.status_code
    {
        e.set_status(if code < 400 {
            StatusId::Success
        } else {
            StatusId::Failure
        });
        e.status_detail = Some(code.to_string());
    }
    if mapping.class == ClassUid::Authentication && mapping.activity == 99 {
        if action.starts_with("user.device_verification") {
            e.auth_factors.push(AuthFactor {
                factor_type: Some("Email".into()),
            });
        }
        if mapping.status == StatusId::Success {
            e.is_mfa = Some(true);
        }
    }
    if e.status_detail.is_none() {
        e.status_detail = r.reason.clone().or_else(|| r.explanation.clone());
    }

    // Where from.
    let loc = r.actor_location.as_ref();
    let ip = r
        .actor_ip
        .clone()
        .or_else(|| loc.and_then(|l| l.ip.clone()));
    let country = loc.and_then(|l| l.country_code.clone().or_else(|| l.country_name.clone()));
    let city = loc.and_then(|l| l.city.clone());
    let latlon = loc.and_then(|l| l.location.as_ref());
    if ip.is_some() || country.is_some() || city.is_some() {
        let has_loc = country.is_some() || city.is_some() || latlon.is_some();
        e.src_endpoint = Some(Box::new(SrcEndpoint {
            ip,
            location: has_loc.then(|| Location {
                city,
                country,
                lat: latlon.and_then(|l| l.lat),
                long: latlon.and_then(|l| l.lon),
            }),
            autonomous_system: None,
            isp: None,
        }));
    }
    e.dst_endpoint = Some(Box::new(DstEndpoint {
        hostname: Some(APP_DOMAIN.into()),
        svc_name: Some(APP_NAME.into()),
    }));
    if r.user_agent.is_some() || r.request_method.is_some() {
        let path = r
            .url_path
            .as_deref()
            .or(r.route.as_deref())
            .map(strip_query)
            .filter(|p| !p.is_empty());
        e.http_request = Some(Box::new(HttpRequest {
            user_agent: r.user_agent.clone(),
            http_method: r.request_method.clone(),
            url: path.map(|p| Url {
                hostname: Some("api.github.com".into()),
                path: Some(p.to_string()),
                url_string: Some(format!("https://api.github.com{p}")),
            }),
        }));
    }

    // Whom and what it was done to.
    let target = r.user.clone().or_else(|| r.user_id.clone()).or_else(|| {
        r.data
            .as_ref()
            .and_then(|d| d.old_user.clone())
            .filter(|_| action == "repo.transfer")
    });
    let repo = r.repo.clone().or_else(|| r.repository.clone());
    let team = r
        .team
        .clone()
        .or_else(|| r.data.as_ref().and_then(|d| d.team.clone()));
    match mapping.class {
        ClassUid::Authentication | ClassUid::AccountChange => {
            let who = target.clone().or_else(|| actor_uid.clone());
            if let Some(who) = who {
                let mut u = target_user(&who);
                u.email_addr = r.email.clone().or_else(|| {
                    r.external_identity_nameid
                        .clone()
                        .filter(|n| n.contains('@'))
                });
                e.user = Some(Box::new(u));
            }
        }
        _ => {
            if let Some(t) = &target {
                e.user = Some(Box::new(target_user(t)));
            }
        }
    }
    if mapping.class == ClassUid::UserAccessManagement {
        let perm = r
            .permission
            .clone()
            .or_else(|| r.data.as_ref().and_then(|d| d.permission.clone()))
            .or_else(|| r.role.clone())
            .or_else(|| r.new_role.clone())
            .or_else(|| r.old_role.clone().filter(|_| mapping.activity == 2));
        let scope = if action.starts_with("team.") {
            team.as_ref().map(|t| format!("team:{t}"))
        } else if action.starts_with("repo.") {
            repo.as_ref().map(|x| format!("repo:{x}"))
        } else if action.starts_with("business.") {
            r.business.as_ref().map(|b| format!("business:{b}"))
        } else if action.starts_with("user.") {
            Some("site_admin".to_string())
        } else {
            r.org.as_ref().map(|o| format!("org:{o}"))
        };
        e.privileges = perm.into_iter().chain(scope).collect();
        if let Some(old) = r.old_permission.as_ref().filter(|_| mapping.activity == 1) {
            e.status_detail = Some(format!("was {old}"));
        }
    }
    if let Some(kind) = mapping.entity {
        let (name, uid) = match kind {
            "oauth_grant" | "oauth_app" => (
                r.oauth_application_name
                    .clone()
                    .or_else(|| r.oauth_application.clone())
                    .or_else(|| r.name.clone()),
                r.oauth_application_id.clone(),
            ),
            "api_token" | "ssh_key" | "deploy_key" => (
                r.user_programmatic_access_name
                    .clone()
                    .or_else(|| r.name.clone())
                    .or_else(|| r.programmatic_access_type.clone()),
                fingerprint.clone(),
            ),
            "webhook" => (r.name.clone(), r.hook_id.clone()),
            "app_installation" | "github_app" => {
                (r.integration.clone().or_else(|| r.name.clone()), None)
            }
            "branch_protection" => (repo.clone(), None),
            "invitation" => (target.clone(), None),
            _ => (r.name.clone(), None),
        };
        e.entity = Some(Box::new(Entity {
            type_name: Some(kind.into()),
            name,
            uid,
            // On other actions the scopes are the acting credential's, not the entity's.
            scopes: if mapping.token == TokenRole::Subject {
                r.token_scopes.clone()
            } else {
                Vec::new()
            },
        }));
    }
    if let Some(repo) = &repo {
        e.web_resources.push(WebResource {
            type_name: Some("repository".into()),
            name: Some(repo.clone()),
            uid: r.repo_id.clone(),
            url_string: (!repo.contains(char::is_whitespace) && repo.contains('/'))
                .then(|| format!("https://github.com/{repo}")),
        });
    }
    for name in r
        .repositories_added_names
        .iter()
        .chain(&r.repositories_removed_names)
    {
        if repo.as_deref() != Some(name.as_str()) {
            e.web_resources.push(WebResource {
                type_name: Some("repository".into()),
                name: Some(name.clone()),
                uid: None,
                url_string: Some(format!("https://github.com/{name}")),
            });
        }
    }
    if let Some(team) = &team {
        e.web_resources.push(WebResource {
            type_name: Some("team".into()),
            name: Some(team.clone()),
            uid: None,
            url_string: None,
        });
    }
    if matches!(mapping.class, ClassUid::WebResourcesActivity) && e.web_resources.is_empty() {
        e.web_resources.push(WebResource {
            type_name: Some("audit_log".into()),
            name: r
                .org
                .clone()
                .or_else(|| r.business.clone())
                .or_else(|| actor_uid.clone()),
            uid: None,
            url_string: None,
        });
    }
    if mapping.class == ClassUid::ApiActivity {
        let operation = match (&r.request_method, &r.route) {
            (Some(m), Some(route)) if action == "api.request" => format!("{m} {route}"),
            _ => action.clone(),
        };
        e.api = Some(Box::new(Api {
            operation: Some(operation),
            service: Some(ApiService {
                name: Some(APP_NAME.into()),
            }),
        }));
    }
    if let Some(t) = &r.transport_protocol_name
        && e.auth_protocol.is_none()
        && t.eq_ignore_ascii_case("ssh")
        && action.starts_with("git.")
    {
        e.auth_protocol = Some("api_key".into());
        e.auth_protocol_id = Some(99);
    }
    if action.starts_with("user.sign_in_from_unrecognized") || action == "user.new_device_used" {
        e.metadata.labels.push("new_device".into());
    }
    if let Some(rid) = &r.request_id {
        e.metadata.labels.push(format!("request_id:{rid}"));
    }
    if let Some(v) = &r.visibility
        && action == "repo.access"
    {
        e.status_detail = Some(format!("visibility {v}"));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Event, ParseError> {
        match GitHub.parse(s.as_bytes(), RecordCtx::default())? {
            Parsed::Events(mut v) => Ok(v.remove(0)),
            Parsed::Skip(n) => panic!("skipped: {n}"),
        }
    }

    #[test]
    fn hashed_token_becomes_hex_fingerprint() {
        // base64 of 32 bytes: 0x00..0x1f
        let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let want: String = (0u8..32).map(|b| format!("{b:02x}")).collect();
        assert_eq!(hashed_token_fingerprint(b64), format!("sha256:{want}"));
        // Not a base64 SHA-256: fingerprinted, never stored as given.
        let odd = hashed_token_fingerprint("12387sdjbqas17827ty1o2u313");
        assert!(odd.starts_with("sha256:") && odd.len() == 71);
        assert!(!odd.contains("12387sdjbqas"));
    }

    #[test]
    fn api_request_with_token_is_token_use() {
        let e = parse(
            r#"{"@timestamp":1741611465102,"_document_id":"Zt3","action":"api.request","actor":"octo","actor_id":11,"actor_location":{"country_code":"IN"},"actor_ip":"203.0.113.9","hashed_token":"E8Fzcgs3TQXqhrKKC/qNR+2XZnaK3ykQBSAt1kPMiJs=","programmatic_access_type":"Personal access token (classic)","request_method":"GET","route":"/repos/{owner}/{repo}/pulls","url_path":"/repos/a/b/pulls?page=2","status_code":"200","token_id":5,"token_scopes":"repo,read:org","user_agent":"curl/7.79.1"}"#,
        )
        .unwrap();
        assert_eq!(e.type_uid, 600302);
        assert_eq!(e.action(), Some("token_use"));
        assert_eq!(e.status_id, StatusId::Success);
        assert_eq!(e.auth_protocol.as_deref(), Some("token"));
        let s = e.session_ref().unwrap();
        assert_eq!(
            s.credential_uid.as_deref(),
            Some("sha256:13c173720b374d05ea86b28a0bfa8d47ed9766768adf291005202dd643cc889b")
        );
        assert_eq!(s.uid, None);
        let user = e.actor.user.as_deref().unwrap();
        assert_eq!(user.uid.as_deref(), Some("octo"));
        assert_eq!(user.kind(), Some(IdentityKind::Human));
        assert_eq!(e.src_ip(), Some("203.0.113.9"));
        assert_eq!(e.src_country(), Some("IN"));
        assert_eq!(e.app_domain(), Some("github.com"));
        let url = e.http_request.as_ref().unwrap().url.clone().unwrap();
        assert_eq!(url.path.as_deref(), Some("/repos/a/b/pulls"));
        assert_eq!(
            e.api.as_ref().unwrap().operation.as_deref(),
            Some("GET /repos/{owner}/{repo}/pulls")
        );
    }

    #[test]
    fn logins_and_mfa() {
        let e = parse(r#"{"@timestamp":1711431195806,"_document_id":"a","action":"user.login","actor":"alice","user":"alice"}"#).unwrap();
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::Authentication, 1));
        assert_eq!(e.action(), Some("login"));
        assert!(e.session_ref().is_none());
        let e =
            parse(r#"{"created_at":"1711431195806","action":"user.failed_login","actor":"alice"}"#)
                .unwrap();
        assert_eq!(e.status_id, StatusId::Failure);
        assert!(e.uid().starts_with("github:"));
        let e = parse(
            r#"{"created_at":1,"action":"user.two_factor_challenge_success","actor":"alice"}"#,
        )
        .unwrap();
        assert_eq!(e.type_uid, 300299);
        assert_eq!(e.activity_name.as_deref(), Some("MFA Challenge"));
        assert_eq!(e.is_mfa, Some(true));
        let e = parse(r#"{"created_at":1,"action":"user.logout","actor":"alice"}"#).unwrap();
        assert_eq!(e.type_uid, 300202);
        let e = parse(
            r#"{"created_at":1,"action":"two_factor_authentication.enabled","actor":"alice"}"#,
        )
        .unwrap();
        assert_eq!(
            (e.class_uid, e.action()),
            (ClassUid::AccountChange, Some("mfa_enroll"))
        );
    }

    #[test]
    fn token_creation_names_the_token_not_the_session() {
        let e = parse(r#"{"@timestamp":1711292499390,"action":"personal_access_token.create","actor":"alice","hashed_token":"KjZa/GOlvFtvgzAfpJVdPNhNKFc4Lxt2otCHw9fp3Po=","programmatic_access_type":"Fine-grained personal access token","user_programmatic_access_name":"ci","user_agent":"Mozilla/5.0","org":[],"org_id":[1]}"#).unwrap();
        assert_eq!(e.type_uid, 300401);
        assert_eq!(e.action(), Some("token_create"));
        assert!(e.session_ref().is_none());
        assert_eq!(e.auth_protocol, None);
        let ent = e.entity.as_deref().unwrap();
        assert_eq!(ent.type_name.as_deref(), Some("api_token"));
        assert_eq!(ent.name.as_deref(), Some("ci"));
        assert!(ent.uid.as_deref().unwrap().starts_with("sha256:"));
        let e = parse(r#"{"created_at":1,"action":"oauth_authorization.create","actor":"alice","oauth_application_id":7,"oauth_application_name":"CI App","token_scopes":["repo","gist"]}"#).unwrap();
        assert_eq!(e.action(), Some("oauth_consent"));
        let ent = e.entity.as_deref().unwrap();
        assert_eq!(
            (
                ent.type_name.as_deref(),
                ent.uid.as_deref(),
                ent.name.as_deref()
            ),
            (Some("oauth_grant"), Some("7"), Some("CI App"))
        );
        assert_eq!(ent.scopes, ["repo", "gist"]);
        let e =
            parse(r#"{"created_at":1,"action":"personal_access_token.destroy","actor":"alice"}"#)
                .unwrap();
        assert_eq!((e.type_uid, e.action()), (300404, Some("token_revoke")));
    }

    #[test]
    fn membership_and_permissions() {
        let e = parse(r#"{"created_at":1,"action":"org.add_member","actor":"admin","user":"bob","org":"acme","permission":"admin"}"#).unwrap();
        assert_eq!(e.type_uid, 300501);
        assert_eq!(e.action(), Some("privilege_grant"));
        assert_eq!(e.privileges, ["admin", "org:acme"]);
        assert_eq!(e.user.as_ref().unwrap().uid.as_deref(), Some("bob"));
        let e = parse(r#"{"created_at":1,"action":"team.remove_member","actor":"admin","user":"bob","data":{"team":"acme/devs"}}"#).unwrap();
        assert_eq!((e.type_uid, e.action()), (300502, Some("privilege_revoke")));
        assert_eq!(e.privileges, ["team:acme/devs"]);
        let e = parse(r#"{"created_at":1,"action":"team.add_repository","actor":"admin","repo":"acme/x","data":"oops"}"#).unwrap();
        assert_eq!(e.type_uid, 300501);
    }

    #[test]
    fn downloads_and_bots() {
        let e = parse(r#"{"@timestamp":1655872622832,"action":"git.clone","actor":"github-actions[bot]","actor_location":{"country_code":"US"},"repo":"acme/app","repository_public":false,"transport_protocol_name":"http","user":""}"#).unwrap();
        assert_eq!((e.type_uid, e.action()), (600602, Some("download")));
        let actor = e.actor.user.as_deref().unwrap();
        assert_eq!(actor.kind(), Some(IdentityKind::ServiceAccount));
        assert_eq!(e.user, None);
        let wr = e.web_resources.first().unwrap();
        assert_eq!(wr.type_name.as_deref(), Some("repository"));
        assert_eq!(
            wr.url_string.as_deref(),
            Some("https://github.com/acme/app")
        );
        let e = parse(r#"{"created_at":1,"action":"repo.download_zip","actor":"x","programmatic_access_type":"GitHub App server-to-server token","hashed_token":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}"#).unwrap();
        assert_eq!(
            e.actor.user.as_deref().unwrap().kind(),
            Some(IdentityKind::ServiceAccount)
        );
        assert!(e.session_ref().unwrap().credential_uid.is_some());
    }

    #[test]
    fn lenient_fields_and_rejections() {
        let e = parse(r#"{"@timestamp":"2025-03-10T12:57:45.102Z","action":"repo.create","actor":null,"actor_id":"11","actor_location":"nowhere","status_code":"n/a","token_scopes":null}"#).unwrap();
        assert_eq!(e.time, 1_741_611_465_102);
        assert_eq!(e.actor_uid(), Some("11"));
        assert_eq!(e.src_endpoint, None);
        let err = parse(r#"{"action":"user.login","actor":"a"}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("created_at"));
        let err = parse(r#"{"action":"user.login","created_at":"yesterday"}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("created_at"));
        let err = parse(r#"{"created_at":1,"actor":"a"}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("action"));
        let err = parse(r#"["x"]"#).unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        let err = parse(r#"{"created_at":1,"#).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
    }
}
