//! Microsoft Entra ID (Azure AD) audit logs.
//!
//! Reads one record in any of the shapes Entra directory audits travel in: a Microsoft
//! Graph `directoryAudit` object (`/auditLogs/directoryAudits`), an Azure Monitor diagnostic
//! record of category `AuditLogs` (`{"time", "category", "callerIpAddress", "tenantId",
//! "resourceId", "properties": {…the Graph fields…}}`), a Log Analytics `AuditLogs` row
//! (PascalCase names, nested columns possibly as JSON text), and an Event Hub batch
//! `{"records": [...]}` or Graph page `{"value": [...]}`, whose items all become events.
//!
//! The activity (`activityDisplayName`) decides the OCSF class:
//! - consent and delegated permission grants → Entity Management create of an `oauth_grant`
//!   with the scopes read from `ConsentAction.Permissions` / `DelegatedPermissionGrant.Scope`
//!   (`oauth_consent`);
//! - directory role membership (`Add member to role`, `Add eligible member to role`, PIM
//!   completions) → User Access Management assign/remove role (`role_assign`/`role_remove`),
//!   app role assignments, group membership and ownership → assign/revoke privileges;
//! - credentials on applications and service principals → Entity Management create/delete of
//!   a `credential` (`token_create`/`token_revoke`), keyed by the added or removed key id;
//! - password resets and changes, security-info registration → Account Change
//!   (`password_change`, `mfa_enroll`, `mfa_remove`), user lifecycle → Account Change;
//! - application, service principal, device, group and policy changes → Entity Management by
//!   `operationType`; anything else → API Activity, by verb, with the activity as event code.
//!
//! The actor is `initiatedBy.user` (a human) or `initiatedBy.app` (a `service_account`);
//! when both are present the app acted for the user (`actor.on_behalf_of`).
//!
//! Vendor quirks handled: caller IPs written as `::2a02:…` (a stray `::` before a full IPv6
//! address) or `::ffff:1.2.3.4`; `0.0.0.0` as "no address"; the tenant only in `resourceId`;
//! `modifiedProperties` values that are JSON-encoded strings (`"\"Global Administrator\""`)
//! or `old => new` texts; empty `resultReason` on success; en dashes in activity names.
//! Sign-in records are skipped with a note pointing at the `entra-signin` source.

use crate::entra_signin::{
    clip, entra_product, factor_caption, nested, nested_list, normalize_ip, parse_batch,
    parse_object, pick_time, push_label, raw_records, tenant_from_resource_id,
};
use crate::lenient as l;
use crate::{ParseError, Parsed, RecordCtx, Source};
use midwatch_model::event::{
    Api, ApiService, AuthFactor, Device, Entity, SessionRef, SrcEndpoint, User,
};
use midwatch_model::hash::token_fingerprint;
use midwatch_model::{ClassUid, Event, IdentityKind, StatusId};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The `entra-audit` source: Entra ID directory audit logs (Graph, Azure Monitor, Log
/// Analytics).
#[derive(Debug, Clone, Copy, Default)]
pub struct EntraAudit;

const NAME: &str = "entra-audit";

/// One audit record: the Azure Monitor envelope and, under `properties`, the Graph body; a
/// Graph object or Log Analytics row fills the body fields at the top level.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rec {
    // Azure Monitor envelope.
    #[serde(
        default,
        alias = "TimeGenerated",
        alias = "timeGenerated",
        deserialize_with = "l::string"
    )]
    time: Option<String>,
    #[serde(default, alias = "Category", deserialize_with = "l::string")]
    category: Option<String>,
    /// Log Analytics table name (`AuditLogs`).
    #[serde(default, rename = "Type", deserialize_with = "l::string")]
    table: Option<String>,
    #[serde(default, alias = "OperationName", deserialize_with = "l::string")]
    operation_name: Option<String>,
    #[serde(default, alias = "ResultType", deserialize_with = "l::string")]
    result_type: Option<String>,
    #[serde(default, alias = "ResultSignature", deserialize_with = "l::string")]
    result_signature: Option<String>,
    #[serde(default, alias = "ResultDescription", deserialize_with = "l::string")]
    result_description: Option<String>,
    #[serde(default, alias = "CallerIpAddress", deserialize_with = "l::string")]
    caller_ip_address: Option<String>,
    #[serde(
        default,
        alias = "TenantId",
        alias = "AADTenantId",
        deserialize_with = "l::string"
    )]
    tenant_id: Option<String>,
    #[serde(default, alias = "ResourceId", deserialize_with = "l::string")]
    resource_id: Option<String>,
    #[serde(default, deserialize_with = "nested_box")]
    properties: Option<Box<Rec>>,
    #[serde(default, alias = "value", deserialize_with = "raw_records")]
    records: Option<Vec<Box<RawValue>>>,

    // Graph `directoryAudit` body.
    #[serde(default, alias = "Id", deserialize_with = "l::string")]
    id: Option<String>,
    #[serde(default, alias = "ActivityDateTime", deserialize_with = "l::string")]
    activity_date_time: Option<String>,
    #[serde(default, alias = "ActivityDisplayName", deserialize_with = "l::string")]
    activity_display_name: Option<String>,
    #[serde(default, alias = "CorrelationId", deserialize_with = "l::string")]
    correlation_id: Option<String>,
    #[serde(
        default,
        alias = "OperationType",
        alias = "AADOperationType",
        deserialize_with = "l::string"
    )]
    operation_type: Option<String>,
    #[serde(default, alias = "Result", deserialize_with = "l::string")]
    result: Option<String>,
    #[serde(default, alias = "ResultReason", deserialize_with = "l::string")]
    result_reason: Option<String>,
    #[serde(default, alias = "LoggedByService", deserialize_with = "l::string")]
    logged_by_service: Option<String>,
    #[serde(default, alias = "UserAgent", deserialize_with = "l::string")]
    user_agent: Option<String>,
    #[serde(default, alias = "InitiatedBy", deserialize_with = "nested")]
    initiated_by: Option<InitiatedBy>,
    #[serde(default, alias = "TargetResources", deserialize_with = "nested_list")]
    target_resources: Vec<Target>,
    #[serde(default, alias = "AdditionalDetails", deserialize_with = "nested_list")]
    additional_details: Vec<KeyValue>,
    /// Only read to recognise a Graph `signIn` handed to this source.
    #[serde(default, deserialize_with = "l::string")]
    created_date_time: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitiatedBy {
    #[serde(default, deserialize_with = "nested")]
    user: Option<InitUser>,
    #[serde(default, deserialize_with = "nested")]
    app: Option<InitApp>,
    #[serde(default, deserialize_with = "nested")]
    linkable_identifiers: Option<Linkable>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitUser {
    #[serde(default, deserialize_with = "l::string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    user_principal_name: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    ip_address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitApp {
    #[serde(default, deserialize_with = "l::string")]
    app_id: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    service_principal_id: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    service_principal_name: Option<String>,
}

/// Graph `linkableIdentifiers`: the session and token an audited change was made in.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Linkable {
    #[serde(default, deserialize_with = "l::string")]
    session_id: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    device_id: Option<String>,
    #[serde(default, deserialize_with = "nested")]
    token_details: Option<TokenDetails>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenDetails {
    #[serde(default, deserialize_with = "l::string")]
    unique_token_identifier: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(default, deserialize_with = "l::string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    display_name: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "l::string")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    user_principal_name: Option<String>,
    #[serde(default, deserialize_with = "nested_list")]
    modified_properties: Vec<Modified>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Modified {
    #[serde(default, deserialize_with = "l::string")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    old_value: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    new_value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct KeyValue {
    #[serde(default, deserialize_with = "l::string")]
    key: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    value: Option<String>,
}

fn nested_box<'de, D, T>(d: D) -> Result<Option<Box<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(nested::<D, T>(d)?.map(Box::new))
}

/// What an activity is, decided from its name and `operationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    Consent,
    GrantRemove,
    AppRoleGrant,
    AppRoleRevoke,
    RoleAssign,
    RoleRemove,
    GroupAdd,
    GroupRemove,
    OwnerAdd,
    OwnerRemove,
    CredentialAdd,
    CredentialRemove,
    CredentialChange,
    PasswordReset,
    PasswordChange,
    MfaEnroll,
    MfaRemove,
    /// Account Change with this activity and midwatch action.
    Account(u32, Option<&'static str>),
    /// Entity Management with this activity; the entity is the first target.
    Entity(u32),
    /// API Activity with this activity.
    Api(u32),
}

/// Lowercase, dashes unified, whitespace collapsed: Entra writes `–` in some names.
fn normalize_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            match c {
                '\u{2013}' | '\u{2014}' => out.push('-'),
                c => out.extend(c.to_lowercase()),
            }
        }
    }
    out
}

/// The CRUD activity (1 create, 3 update, 4 delete) a verb stands for.
fn verb_activity(verb: &str) -> Option<u32> {
    match verb {
        "add" | "create" | "register" | "new" => Some(1),
        "update" | "set" | "change" | "modify" | "patch" | "restore" | "enable" | "disable"
        | "reset" => Some(3),
        "delete" | "remove" | "hard" | "unregister" => Some(4),
        _ => None,
    }
}

fn classify(name: &str, op_type: Option<&str>, first_target: Option<&str>) -> Mapping {
    match name {
        "consent to application"
        | "add delegated permission grant"
        | "add oauth2permissiongrant" => {
            return Mapping::Consent;
        }
        "remove delegated permission grant" | "remove oauth2permissiongrant" | "revoke consent" => {
            return Mapping::GrantRemove;
        }
        "add user" => return Mapping::Account(1, Some("account_create")),
        "delete user" | "hard delete user" => return Mapping::Account(6, None),
        "disable account" => return Mapping::Account(5, Some("account_disable")),
        "enable account" => return Mapping::Account(2, None),
        "update user" | "restore user" => return Mapping::Account(99, None),
        _ => {}
    }
    let starts = |p: &str| name.starts_with(p);
    let has = |p: &str| name.contains(p);
    if has("app role assignment") {
        return if starts("remove") || starts("delete") {
            Mapping::AppRoleRevoke
        } else {
            Mapping::AppRoleGrant
        };
    }
    if has("member to role") || has("member from role") || has("role assignment") {
        if has("request") && !has("completed") && !has("approved") {
            return Mapping::Api(99);
        }
        return if starts("remove") || starts("delete") {
            Mapping::RoleRemove
        } else {
            Mapping::RoleAssign
        };
    }
    if has("member to group") {
        return Mapping::GroupAdd;
    }
    if has("member from group") {
        return Mapping::GroupRemove;
    }
    if starts("add owner to") {
        return Mapping::OwnerAdd;
    }
    if starts("remove owner from") {
        return Mapping::OwnerRemove;
    }
    if has("certificates and secrets management") {
        return Mapping::CredentialChange;
    }
    if has("credential") && (has("service principal") || has("application")) {
        return if starts("add") {
            Mapping::CredentialAdd
        } else if starts("remove") || starts("delete") {
            Mapping::CredentialRemove
        } else {
            Mapping::CredentialChange
        };
    }
    if has("password") {
        if has("reset") {
            return Mapping::PasswordReset;
        }
        if has("change") || has("update") || has("set") {
            return Mapping::PasswordChange;
        }
    }
    if has("security info") {
        if has("deleted") {
            return Mapping::MfaRemove;
        }
        if has("registered") {
            return Mapping::MfaEnroll;
        }
    }
    let op = op_type.map(str::to_ascii_lowercase);
    let verb = op
        .as_deref()
        .and_then(verb_activity)
        .or_else(|| name.split(' ').next().and_then(verb_activity));
    // The object the name speaks of beats the first target's type: "Add service principal"
    // may list the owning user first.
    let noun = if has(" user") {
        Some("user")
    } else if [
        "service principal",
        "application",
        "device",
        "group",
        "policy",
        "domain",
    ]
    .iter()
    .any(|n| has(n))
    {
        Some("entity")
    } else {
        None
    };
    let target = first_target.map(str::to_ascii_lowercase);
    match (verb, noun.or(target.as_deref())) {
        (Some(1), Some("user")) => Mapping::Account(1, Some("account_create")),
        (Some(4), Some("user")) => Mapping::Account(6, None),
        (Some(_), Some("user")) => Mapping::Account(99, None),
        (Some(v), Some(_)) => Mapping::Entity(v),
        (Some(v), None) => Mapping::Api(v),
        (None, _) => Mapping::Api(99),
    }
}

/// A `modifiedProperties` value without its JSON string quotes; `None` when empty.
fn unquote(s: &str) -> Option<&str> {
    let t = s.trim();
    let t = t
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(t)
        .trim();
    (!t.is_empty()).then_some(t)
}

/// True for text that can be an OAuth scope or app role value.
fn scope_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:/".contains(&b))
}

fn push_scope(out: &mut Vec<String>, s: &str) {
    let s = s.trim_matches(|c: char| c == '"' || c == '[' || c == ']' || c == '\'');
    if scope_like(s) && !out.iter().any(|x| x == s) {
        out.push(s.to_string());
    }
}

/// Scopes from a consent or grant value: `… Scope: openid User.Read, …` texts (the part
/// after `=>` when the value is `old => new`), a JSON array, or a space/comma separated list.
fn scopes_from(value: &str, out: &mut Vec<String>) {
    let Some(v) = unquote(value) else { return };
    let v = v.rsplit("=>").next().unwrap_or(v);
    let lower = v.to_ascii_lowercase();
    let mut found = false;
    let mut from = 0;
    while let Some(at) = lower.get(from..).and_then(|r| r.find("scope")) {
        let start = from + at + "scope".len();
        from = start;
        let rest = v.get(start..).unwrap_or("").trim_start();
        let Some(rest) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')) else {
            continue;
        };
        found = true;
        let end = rest.find([',', ']', ';']).unwrap_or(rest.len());
        for s in rest.get(..end).unwrap_or("").split_whitespace() {
            push_scope(out, s);
        }
    }
    if found {
        return;
    }
    if let Ok(list) = serde_json::from_str::<Vec<String>>(v.trim()) {
        for item in &list {
            for s in item.split_whitespace() {
                push_scope(out, s);
            }
        }
        return;
    }
    for s in v.split([' ', ',', ';']) {
        push_scope(out, s);
    }
}

/// Key ids and types in a credential `KeyDescription` value.
fn keys_in(value: Option<&str>) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let Some(v) = value else { return out };
    for chunk in v.split("KeyIdentifier=").skip(1) {
        let id: String = chunk
            .chars()
            .take_while(|c| !matches!(c, ',' | ']' | '"' | '\\'))
            .collect();
        let this = chunk.split("KeyIdentifier=").next().unwrap_or(chunk);
        let key_type = this.split("KeyType=").nth(1).map(|r| {
            r.chars()
                .take_while(|c| !matches!(c, ',' | ']' | '"' | '\\'))
                .collect::<String>()
        });
        if !id.is_empty() && !out.iter().any(|(k, _): &(String, _)| *k == id) {
            out.push((id, key_type));
        }
    }
    out
}

/// The modified property named `name` (case-insensitive) on any target.
fn modified<'a>(targets: &'a [Target], name: &str) -> Option<&'a Modified> {
    targets
        .iter()
        .flat_map(|t| t.modified_properties.iter())
        .find(|m| {
            m.display_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
}

fn is_type(t: &Target, kind: &str) -> bool {
    t.kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case(kind))
}

/// A target as an identity: users by UPN, other principals by name, then id.
fn target_user(t: &Target) -> Option<User> {
    let kind = if is_type(t, "user") {
        IdentityKind::Human
    } else {
        IdentityKind::ServiceAccount
    };
    let uid = if kind == IdentityKind::Human {
        t.user_principal_name.as_deref().or(t.id.as_deref())
    } else {
        t.display_name.as_deref().or(t.id.as_deref())
    }?;
    let mut u = User::new(uid, kind);
    u.name = t.display_name.clone();
    if kind == IdentityKind::Human && uid.contains('@') {
        u.email_addr = Some(uid.to_string());
    }
    Some(u)
}

/// The first target that is a principal (user, service principal, group, device), not the
/// role, application or policy acted with.
fn principal_target(targets: &[Target]) -> Option<&Target> {
    ["user", "serviceprincipal", "group", "device"]
        .iter()
        .find_map(|k| targets.iter().find(|t| is_type(t, k)))
        .or_else(|| targets.first())
}

/// `ServicePrincipal` → `service_principal`.
fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        if c == ' ' || c == '-' {
            out.push('_');
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn entity_of(t: &Target, type_name: Option<&str>) -> Entity {
    Entity {
        type_name: type_name
            .map(str::to_string)
            .or_else(|| t.kind.as_deref().map(snake))
            .map(Into::into),
        name: t
            .display_name
            .clone()
            .or_else(|| t.user_principal_name.clone()),
        uid: t.id.clone(),
        scopes: Vec::new(),
    }
}

impl Source for EntraAudit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse(&self, raw: &[u8], ctx: RecordCtx) -> Result<Parsed, ParseError> {
        let rec: Rec = parse_object(raw)?;
        if let Some(items) = &rec.records {
            return parse_batch(items, ctx, |r, c| self.parse(r, c), "audit records");
        }
        to_event(rec, raw)
    }
}

fn to_event(top: Rec, raw: &[u8]) -> Result<Parsed, ParseError> {
    let nested = top.properties.is_some();
    let empty = Rec::default();
    let p: &Rec = top.properties.as_deref().unwrap_or(&empty);
    let b: &Rec = if nested { p } else { &top };
    let pre = if nested { "properties." } else { "" };

    // Envelope category is the log (`AuditLogs`); a flat record's category is the audit's own.
    let log = if nested {
        top.category.as_deref().or(top.table.as_deref())
    } else {
        top.table.as_deref()
    };
    let flat_category = (!nested).then_some(top.category.as_deref()).flatten();
    let is_sign_in = |c: &str| c.to_ascii_lowercase().contains("signinlogs");
    if log.is_some_and(is_sign_in) || flat_category.is_some_and(is_sign_in) {
        return Ok(Parsed::Skip(
            "Entra sign-in record: read it with the entra-signin source".into(),
        ));
    }
    if let Some(c) = log {
        let l = c.to_ascii_lowercase();
        if l != "auditlogs" && l != "aadauditlogs" {
            return Ok(Parsed::Skip(format!(
                "category `{}` is not an Entra audit log",
                clip(c)
            )));
        }
    }
    let Some(activity) = b
        .activity_display_name
        .as_deref()
        .or(top.operation_name.as_deref())
    else {
        if b.created_date_time.is_some() {
            return Ok(Parsed::Skip(
                "Entra sign-in record: read it with the entra-signin source".into(),
            ));
        }
        return Err(ParseError::field(
            format!("{pre}activityDisplayName"),
            "missing: the record names no audit activity",
        ));
    };
    let time_path = format!("{pre}activityDateTime");
    let time = pick_time(&[
        (time_path.as_str(), b.activity_date_time.as_deref()),
        ("time", top.time.as_deref()),
    ])?;

    let name = normalize_name(activity);
    let targets = &b.target_resources;
    let mapping = classify(
        &name,
        b.operation_type.as_deref(),
        targets.first().and_then(|t| t.kind.as_deref()),
    );
    let (class, activity_id, action) = match mapping {
        Mapping::Consent => (ClassUid::EntityManagement, 1, Some("oauth_consent")),
        Mapping::GrantRemove => (ClassUid::EntityManagement, 4, None),
        Mapping::AppRoleGrant | Mapping::GroupAdd | Mapping::OwnerAdd => {
            (ClassUid::UserAccessManagement, 1, Some("privilege_grant"))
        }
        Mapping::AppRoleRevoke | Mapping::GroupRemove | Mapping::OwnerRemove => {
            (ClassUid::UserAccessManagement, 2, Some("privilege_revoke"))
        }
        Mapping::RoleAssign => (ClassUid::UserAccessManagement, 3, Some("role_assign")),
        Mapping::RoleRemove => (ClassUid::UserAccessManagement, 4, Some("role_remove")),
        Mapping::CredentialAdd => (ClassUid::EntityManagement, 1, Some("token_create")),
        Mapping::CredentialRemove => (ClassUid::EntityManagement, 4, Some("token_revoke")),
        Mapping::CredentialChange => {
            let kd = modified(targets, "KeyDescription");
            let old = keys_in(kd.and_then(|m| m.old_value.as_deref()));
            let new = keys_in(kd.and_then(|m| m.new_value.as_deref()));
            let added = new.iter().any(|(k, _)| !old.iter().any(|(o, _)| o == k));
            let removed = old.iter().any(|(k, _)| !new.iter().any(|(n, _)| n == k));
            match (added, removed) {
                (true, _) => (ClassUid::EntityManagement, 1, Some("token_create")),
                (false, true) => (ClassUid::EntityManagement, 4, Some("token_revoke")),
                (false, false) => (ClassUid::EntityManagement, 3, None),
            }
        }
        Mapping::PasswordReset => (ClassUid::AccountChange, 4, Some("password_change")),
        Mapping::PasswordChange => (ClassUid::AccountChange, 3, Some("password_change")),
        Mapping::MfaEnroll => (ClassUid::AccountChange, 10, Some("mfa_enroll")),
        Mapping::MfaRemove => (ClassUid::AccountChange, 11, Some("mfa_remove")),
        Mapping::Account(a, action) => (ClassUid::AccountChange, a, action),
        Mapping::Entity(a) => (ClassUid::EntityManagement, a, None),
        Mapping::Api(a) => (ClassUid::ApiActivity, a, None),
    };

    let uid =
        b.id.clone()
            .unwrap_or_else(|| crate::derived_uid(NAME, raw));
    let mut e = Event::new(class, activity_id, time, uid);
    e.metadata.product = entra_product();
    e.metadata.original_event_uid = b.id.clone();
    e.metadata.event_code = Some(activity.to_string());
    e.midwatch.action = action.map(Into::into);
    e.api = Some(Box::new(Api {
        operation: Some(activity.to_string()),
        service: b.logged_by_service.clone().map(|name| ApiService {
            name: Some(name.into()),
        }),
    }));

    let result = b
        .result
        .as_deref()
        .or(top.result_type.as_deref())
        .or(top.result_signature.as_deref())
        .map(str::to_ascii_lowercase);
    let outcome = match result.as_deref() {
        Some("success" | "0") => StatusId::Success,
        Some("failure" | "timeout" | "clienterror" | "failed") => StatusId::Failure,
        _ => StatusId::Unknown,
    };
    e.set_status(outcome);
    e.status_detail = b.result_reason.clone().or_else(|| {
        (outcome == StatusId::Failure)
            .then(|| top.result_description.clone())
            .flatten()
    });
    e.message = top.result_description.clone();

    // Who acted.
    let init = b.initiated_by.as_ref();
    let human = init.and_then(|i| i.user.as_ref()).and_then(|u| {
        let uid = u.user_principal_name.as_deref().or(u.id.as_deref())?;
        let mut user = User::new(uid, IdentityKind::Human);
        user.name = u.display_name.clone();
        user.email_addr = uid.contains('@').then(|| uid.to_string());
        Some(user)
    });
    let app = init.and_then(|i| i.app.as_ref()).and_then(|a| {
        let uid = a
            .service_principal_name
            .as_deref()
            .or(a.display_name.as_deref())
            .or(a.service_principal_id.as_deref())
            .or(a.app_id.as_deref())?;
        let mut user = User::new(uid, IdentityKind::ServiceAccount);
        user.name = a.display_name.clone();
        Some((user, a.display_name.clone()))
    });
    match (app, human) {
        (Some((app, app_name)), Some(human)) => {
            e.actor.user = Some(Box::new(app));
            e.actor.app_name = app_name;
            e.actor.on_behalf_of = Some(Box::new(human));
        }
        (Some((app, app_name)), None) => {
            e.actor.user = Some(Box::new(app));
            e.actor.app_name = app_name;
        }
        (None, Some(human)) => e.actor.user = Some(Box::new(human)),
        (None, None) => {}
    }
    if let Some(l) = init.and_then(|i| i.linkable_identifiers.as_ref()) {
        let credential_uid = l
            .token_details
            .as_ref()
            .and_then(|t| t.unique_token_identifier.as_deref())
            .map(token_fingerprint);
        if l.session_id.is_some() || credential_uid.is_some() {
            e.actor.session = Some(Box::new(SessionRef {
                uid: l.session_id.clone(),
                credential_uid,
                ..SessionRef::default()
            }));
        }
        if let Some(d) = &l.device_id {
            e.device = Some(Box::new(Device {
                uid: Some(d.clone()),
                ..Device::default()
            }));
        }
    }
    let ip = init
        .and_then(|i| i.user.as_ref())
        .and_then(|u| u.ip_address.as_deref())
        .and_then(normalize_ip)
        .or_else(|| first_ip(&top, p));
    if ip.is_some() {
        e.src_endpoint = Some(Box::new(SrcEndpoint {
            ip,
            ..SrcEndpoint::default()
        }));
    }
    let ua = b.user_agent.clone().or_else(|| {
        b.additional_details
            .iter()
            .find(|kv| {
                kv.key
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case("user-agent"))
            })
            .and_then(|kv| kv.value.clone())
    });
    if let Some(ua) = ua {
        e.http_request.get_or_insert_with(Box::default).user_agent = Some(ua);
    }

    // What was acted on.
    let mut labels = Vec::new();
    match mapping {
        Mapping::Consent | Mapping::GrantRemove => {
            let app_target = targets
                .iter()
                .find(|t| is_type(t, "serviceprincipal") || is_type(t, "application"))
                .or_else(|| targets.first());
            let mut scopes = Vec::new();
            for m in targets.iter().flat_map(|t| t.modified_properties.iter()) {
                let n = m.display_name.as_deref().unwrap_or("").to_ascii_lowercase();
                if n == "consentaction.permissions"
                    || n.ends_with(".scope")
                    || n == "approle.value"
                    || n.ends_with("permissions")
                {
                    let v = if mapping == Mapping::GrantRemove {
                        m.old_value.as_deref()
                    } else {
                        m.new_value.as_deref()
                    };
                    if let Some(v) = v {
                        scopes_from(v, &mut scopes);
                    }
                }
            }
            let mut entity = app_target.map_or_else(Entity::default, |t| entity_of(t, None));
            entity.type_name = Some("oauth_grant".into());
            entity.scopes = scopes;
            e.entity = Some(Box::new(entity));
            for (prop, label) in [
                ("ConsentContext.IsAdminConsent", "admin_consent"),
                ("ConsentContext.OnBehalfOfAll", "on_behalf_of_all"),
            ] {
                if modified(targets, prop)
                    .and_then(|m| m.new_value.as_deref())
                    .and_then(unquote)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                {
                    labels.push(label.to_string());
                }
            }
        }
        Mapping::RoleAssign | Mapping::RoleRemove => {
            let role = targets
                .iter()
                .find(|t| is_type(t, "role"))
                .and_then(|t| t.display_name.clone())
                .or_else(|| {
                    modified(targets, "Role.DisplayName")
                        .and_then(|m| {
                            if mapping == Mapping::RoleRemove {
                                m.old_value.as_deref().or(m.new_value.as_deref())
                            } else {
                                m.new_value.as_deref()
                            }
                        })
                        .and_then(unquote)
                        .map(str::to_string)
                });
            e.privileges = role.into_iter().collect();
            e.user = targets
                .iter()
                .find(|t| !is_type(t, "role"))
                .and_then(target_user)
                .map(Box::new);
        }
        Mapping::AppRoleGrant | Mapping::AppRoleRevoke => {
            let mut roles = Vec::new();
            for name in ["AppRole.Value", "AppRole.DisplayName"] {
                if let Some(m) = modified(targets, name) {
                    let v = if mapping == Mapping::AppRoleRevoke {
                        m.old_value.as_deref().or(m.new_value.as_deref())
                    } else {
                        m.new_value.as_deref()
                    };
                    if let Some(v) = v.and_then(unquote) {
                        roles.push(v.to_string());
                        break;
                    }
                }
            }
            e.privileges = roles;
            let sp_name = [
                "ServicePrincipal.DisplayName",
                "User.UPN",
                "Group.DisplayName",
            ]
            .iter()
            .find_map(|n| {
                let m = modified(targets, n)?;
                let v = m
                    .new_value
                    .as_deref()
                    .or(m.old_value.as_deref())
                    .and_then(unquote)?;
                let kind = if n.starts_with("User") {
                    IdentityKind::Human
                } else {
                    IdentityKind::ServiceAccount
                };
                Some(User::new(v, kind))
            });
            e.user = sp_name
                .or_else(|| {
                    targets
                        .iter()
                        .find(|t| is_type(t, "user"))
                        .and_then(target_user)
                })
                .map(Box::new);
            if let Some(res) = targets.first() {
                e.entity = Some(Box::new(entity_of(res, None)));
            }
        }
        Mapping::GroupAdd | Mapping::GroupRemove => {
            let group = targets
                .iter()
                .find(|t| is_type(t, "group"))
                .and_then(|t| t.display_name.clone())
                .or_else(|| {
                    modified(targets, "Group.DisplayName")
                        .and_then(|m| m.new_value.as_deref().or(m.old_value.as_deref()))
                        .and_then(unquote)
                        .map(str::to_string)
                });
            e.privileges = group.into_iter().collect();
            e.user = targets
                .iter()
                .find(|t| !is_type(t, "group"))
                .and_then(target_user)
                .map(Box::new);
        }
        Mapping::OwnerAdd | Mapping::OwnerRemove => {
            e.privileges = vec!["Owner".into()];
            e.user = targets
                .iter()
                .find(|t| is_type(t, "user") || is_type(t, "serviceprincipal"))
                .and_then(target_user)
                .map(Box::new);
            if let Some(obj) = targets
                .iter()
                .find(|t| is_type(t, "application") || is_type(t, "group") || is_type(t, "device"))
            {
                e.entity = Some(Box::new(entity_of(obj, None)));
            }
        }
        Mapping::CredentialAdd | Mapping::CredentialRemove | Mapping::CredentialChange => {
            let kd = modified(targets, "KeyDescription");
            let old = keys_in(kd.and_then(|m| m.old_value.as_deref()));
            let new = keys_in(kd.and_then(|m| m.new_value.as_deref()));
            let added: Vec<_> = new
                .iter()
                .filter(|(k, _)| !old.iter().any(|(o, _)| o == k))
                .collect();
            let removed: Vec<_> = old
                .iter()
                .filter(|(k, _)| !new.iter().any(|(n, _)| n == k))
                .collect();
            let changed = if action == Some("token_revoke") {
                removed
            } else {
                added
            };
            let owner = targets
                .iter()
                .find(|t| is_type(t, "serviceprincipal") || is_type(t, "application"))
                .or_else(|| targets.first());
            let mut entity = owner.map_or_else(Entity::default, |t| entity_of(t, None));
            entity.type_name = Some("credential".into());
            entity.uid = changed.first().map(|(k, _)| k.clone());
            for (_, key_type) in &changed {
                push_label(&mut labels, "key_type", key_type.as_deref());
            }
            e.entity = Some(Box::new(entity));
            e.user = owner.and_then(target_user).map(Box::new);
        }
        Mapping::PasswordReset
        | Mapping::PasswordChange
        | Mapping::MfaEnroll
        | Mapping::MfaRemove
        | Mapping::Account(..) => {
            e.user = principal_target(targets)
                .and_then(target_user)
                .map(Box::new);
            if matches!(mapping, Mapping::MfaEnroll | Mapping::MfaRemove)
                && let Some(f) = b
                    .result_reason
                    .as_deref()
                    .and_then(factor_caption)
                    .filter(|f| KNOWN_FACTORS.contains(&f.as_str()))
            {
                e.auth_factors.push(AuthFactor {
                    factor_type: Some(f.into()),
                });
            }
        }
        Mapping::Entity(_) => {
            if let Some(t) = targets.first() {
                e.entity = Some(Box::new(entity_of(t, None)));
            }
        }
        Mapping::Api(_) => {}
    }

    push_label(
        &mut labels,
        "correlation_id",
        first2(&b.correlation_id, &top.correlation_id),
    );
    let tenant = first2(&top.tenant_id, &p.tenant_id)
        .or_else(|| first2(&top.resource_id, &p.resource_id).and_then(tenant_from_resource_id));
    push_label(&mut labels, "tenant_id", tenant);
    push_label(
        &mut labels,
        "audit_category",
        b.category.as_deref().filter(|_| nested).or(flat_category),
    );
    push_label(&mut labels, "operation_type", b.operation_type.as_deref());
    e.metadata.labels = labels;
    Ok(Parsed::Events(vec![e]))
}

const KNOWN_FACTORS: &[&str] = &[
    "Email",
    "Push Notification",
    "SMS",
    "Phone Call",
    "TOTP",
    "WebAuthn",
];

fn first2<'a>(a: &'a Option<String>, b: &'a Option<String>) -> Option<&'a str> {
    a.as_deref().or(b.as_deref())
}

fn first_ip(top: &Rec, p: &Rec) -> Option<String> {
    first2(&top.caller_ip_address, &p.caller_ip_address).and_then(normalize_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Parsed, ParseError> {
        EntraAudit.parse(s.as_bytes(), RecordCtx::default())
    }

    fn one(s: &str) -> Event {
        match parse(s).unwrap() {
            Parsed::Events(mut v) => {
                assert_eq!(v.len(), 1);
                let e = v.remove(0);
                e.validate().unwrap();
                e
            }
            Parsed::Skip(n) => panic!("skipped: {n}"),
        }
    }

    fn has_label(e: &Event, l: &str) -> bool {
        e.metadata.labels.iter().any(|x| x == l)
    }

    #[test]
    fn consent_to_application() {
        let e = one(
            r#"{"id":"Directory_c1","activityDateTime":"2026-02-22T14:15:00Z","category":"ApplicationManagement",
                "activityDisplayName":"Consent to application","operationType":"Assign","result":"success",
                "loggedByService":"Core Directory",
                "initiatedBy":{"user":{"id":"u1","userPrincipalName":"victim@contoso.com","ipAddress":"::ffff:198.51.100.50"}},
                "targetResources":[{"type":"ServicePrincipal","id":"sp-1","displayName":"Document Viewer Pro",
                  "modifiedProperties":[
                    {"displayName":"ConsentContext.IsAdminConsent","oldValue":null,"newValue":"\"False\""},
                    {"displayName":"ConsentContext.OnBehalfOfAll","oldValue":null,"newValue":"\"False\""},
                    {"displayName":"ConsentAction.Permissions","oldValue":null,"newValue":"\"[] => [[Id: abc, ClientId: sp-1, PrincipalId: u1, ResourceId: r1, ConsentType: Principal, Scope:  openid profile Mail.ReadWrite offline_access, CreatedDateTime: , LastModifiedDateTime ]]; \""}
                  ]}]}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::EntityManagement, 1)
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("oauth_consent"));
        assert_eq!(e.actor_uid(), Some("victim@contoso.com"));
        assert_eq!(e.src_ip(), Some("198.51.100.50"));
        let ent = e.entity.as_deref().unwrap();
        assert_eq!(ent.type_name.as_deref(), Some("oauth_grant"));
        assert_eq!(ent.name.as_deref(), Some("Document Viewer Pro"));
        assert_eq!(ent.uid.as_deref(), Some("sp-1"));
        assert_eq!(
            ent.scopes,
            ["openid", "profile", "Mail.ReadWrite", "offline_access"]
        );
        assert!(!has_label(&e, "admin_consent"));
        assert_eq!(
            e.metadata.event_code.as_deref(),
            Some("Consent to application")
        );
        assert!(has_label(&e, "audit_category:ApplicationManagement"));
    }

    #[test]
    fn scope_texts() {
        let mut s = Vec::new();
        scopes_from(r#"["offline_access", "Files.Read.All"]"#, &mut s);
        scopes_from("Mail.ReadWrite Files.Read.All", &mut s);
        scopes_from("\" User.Read openid\"", &mut s);
        scopes_from(
            "ConsentType=AllPrincipals, Scope=Directory.ReadWrite.All, x",
            &mut s,
        );
        assert_eq!(
            s,
            [
                "offline_access",
                "Files.Read.All",
                "Mail.ReadWrite",
                "User.Read",
                "openid",
                "Directory.ReadWrite.All"
            ]
        );
    }

    #[test]
    fn role_assignment_failure_from_azure_monitor() {
        let e = one(
            r#"{"time":"2022-01-22T18:22:41.5091873Z","resourceId":"/tenants/4bbb/providers/Microsoft.aadiam",
                "operationName":"Add member to role","category":"AuditLogs","resultDescription":"Failed to add member to role",
                "callerIpAddress":"::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6","Level":4,
                "properties":{"id":"Directory_r1","category":"RoleManagement","result":"failure",
                  "resultReason":"The directory object quota limit for the tenant has been exceeded.",
                  "activityDisplayName":"Add member to role","activityDateTime":"2022-01-22T18:22:41.5091873+00:00",
                  "operationType":"Assign",
                  "initiatedBy":{"user":{"userPrincipalName":"admin@contoso.com","id":"a1","ipAddress":null}},
                  "targetResources":[
                    {"type":"User","id":"u2","userPrincipalName":"mallory@contoso.com","modifiedProperties":[
                      {"displayName":"Role.DisplayName","oldValue":null,"newValue":"\"Global Administrator\""}]},
                    {"type":"Role","id":"r-ga","displayName":null}]}}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::UserAccessManagement, 3)
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("role_assign"));
        assert_eq!(e.status_id, StatusId::Failure);
        assert_eq!(
            e.status_detail.as_deref(),
            Some("The directory object quota limit for the tenant has been exceeded.")
        );
        assert_eq!(e.privileges, ["Global Administrator"]);
        assert_eq!(
            e.user.as_ref().unwrap().uid.as_deref(),
            Some("mallory@contoso.com")
        );
        assert_eq!(e.actor_uid(), Some("admin@contoso.com"));
        assert_eq!(e.src_ip(), Some("2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"));
        assert!(has_label(&e, "tenant_id:4bbb"));
        assert_eq!(e.time, 1_642_875_761_509);

        let e = one(
            r#"{"activityDateTime":"2026-01-05T09:00:00Z","activityDisplayName":"Remove eligible member from role","result":"success",
                "targetResources":[{"type":"Role","displayName":"Security Administrator"},{"type":"User","userPrincipalName":"bob@x.com"}]}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::UserAccessManagement, 4)
        );
        assert_eq!(e.privileges, ["Security Administrator"]);
        assert_eq!(e.user.as_ref().unwrap().uid.as_deref(), Some("bob@x.com"));
    }

    #[test]
    fn credentials_and_accounts() {
        let e = one(
            r#"{"activityDateTime":"2026-01-05T09:00:00Z","activityDisplayName":"Update application \u2013 Certificates and secrets management ",
                "result":"success","initiatedBy":{"app":{"displayName":"Automation","servicePrincipalId":"sp-a"}},
                "targetResources":[{"type":"Application","id":"app-1","displayName":"payroll","modifiedProperties":[
                  {"displayName":"KeyDescription","oldValue":"[]","newValue":"[\"[KeyIdentifier=k-9,KeyType=Password,KeyUsage=Verify,DisplayName=ci]\"]"}]}]}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::EntityManagement, 1)
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("token_create"));
        let ent = e.entity.as_deref().unwrap();
        assert_eq!(ent.type_name.as_deref(), Some("credential"));
        assert_eq!(ent.uid.as_deref(), Some("k-9"));
        assert_eq!(ent.name.as_deref(), Some("payroll"));
        assert!(has_label(&e, "key_type:Password"));
        let actor = e.actor.user.as_deref().unwrap();
        assert_eq!(actor.uid.as_deref(), Some("Automation"));
        assert_eq!(actor.kind(), Some(IdentityKind::ServiceAccount));

        for (name, class, activity, action) in [
            (
                "Reset password (by admin)",
                ClassUid::AccountChange,
                4,
                Some("password_change"),
            ),
            (
                "Change user password",
                ClassUid::AccountChange,
                3,
                Some("password_change"),
            ),
            (
                "User registered security info",
                ClassUid::AccountChange,
                10,
                Some("mfa_enroll"),
            ),
            (
                "User deleted security info",
                ClassUid::AccountChange,
                11,
                Some("mfa_remove"),
            ),
            ("Add service principal", ClassUid::EntityManagement, 1, None),
            ("Delete application", ClassUid::EntityManagement, 4, None),
            (
                "Add member to group",
                ClassUid::UserAccessManagement,
                1,
                Some("privilege_grant"),
            ),
            (
                "Add user",
                ClassUid::AccountChange,
                1,
                Some("account_create"),
            ),
            ("Something new", ClassUid::ApiActivity, 99, None),
        ] {
            let e = one(&format!(
                r#"{{"activityDateTime":"2026-01-05T09:00:00Z","activityDisplayName":"{name}","result":"success",
                    "resultReason":"User registered Mobile Phone SMS",
                    "targetResources":[{{"type":"User","userPrincipalName":"t@x.com"}},{{"type":"Group","displayName":"Admins"}}]}}"#
            ));
            assert_eq!((e.class_uid, e.activity_id), (class, activity), "{name}");
            assert_eq!(e.midwatch.action.as_deref(), action, "{name}");
            if action == Some("mfa_enroll") {
                assert_eq!(e.auth_factors[0].factor_type.as_deref(), Some("SMS"));
            }
            if class == ClassUid::AccountChange {
                assert_eq!(
                    e.user.as_ref().unwrap().uid.as_deref(),
                    Some("t@x.com"),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn delegated_app_and_session_links() {
        let e = one(
            r#"{"activityDateTime":"2026-01-05T09:00:00Z","activityDisplayName":"Update user","result":"success",
                "initiatedBy":{"user":{"userPrincipalName":"alice@x.com"},"app":{"displayName":"Graph Explorer","servicePrincipalId":"sp-g"},
                  "linkableIdentifiers":{"sessionId":"sess-7","deviceId":"dev-7","tokenDetails":{"uniqueTokenIdentifier":"uti-7"}}}}"#,
        );
        assert_eq!(e.actor_uid(), Some("Graph Explorer"));
        assert_eq!(
            e.actor.on_behalf_of.as_ref().unwrap().uid.as_deref(),
            Some("alice@x.com")
        );
        let s = e.session_ref().unwrap();
        assert_eq!(s.uid.as_deref(), Some("sess-7"));
        assert_eq!(
            s.credential_uid.as_deref(),
            Some(token_fingerprint("uti-7").as_str())
        );
        assert_eq!(e.device_id(), Some("dev-7"));
    }

    #[test]
    fn quirks_and_rejections() {
        // Nested columns as JSON text, PascalCase names, tenant only in the resource id.
        let e = one(
            r#"{"TimeGenerated":"2026-01-05T09:00:00Z","OperationName":"Update device","Result":"success",
                "ResourceId":"/tenants/t-9/providers/Microsoft.aadiam","Type":"AuditLogs",
                "InitiatedBy":"{\"app\":{\"displayName\":\"Device Registration Service\"}}",
                "TargetResources":"[{\"type\":\"Device\",\"displayName\":\"LAPTOP-12\",\"id\":\"d-1\"}]"}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::EntityManagement, 3)
        );
        assert_eq!(
            e.entity.as_ref().unwrap().type_name.as_deref(),
            Some("device")
        );
        assert_eq!(e.actor_uid(), Some("Device Registration Service"));
        assert!(has_label(&e, "tenant_id:t-9"));
        assert!(e.uid().starts_with("entra-audit:"));

        let cases = [
            (r#"{"activityDisplayName":"Add user"}"#, "`time`: missing"),
            (
                r#"{"category":"AuditLogs","time":"2026-01-05T09:00:00Z","properties":{"result":"success"}}"#,
                "`properties.activityDisplayName`: missing",
            ),
            (
                r#"{"activityDisplayName":"Add user","activityDateTime":"never"}"#,
                "`activityDateTime`: `never` is not a time",
            ),
            ("42", "not a JSON object"),
        ];
        for (input, want) in cases {
            let err = parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}\n  got: {err}\n want: {want}");
        }
        for s in [
            r#"{"time":"2026-01-05T09:00:00Z","category":"SignInLogs","properties":{}}"#,
            r#"{"createdDateTime":"2026-01-05T09:00:00Z","userPrincipalName":"a@x.com"}"#,
            r#"{"time":"2026-01-05T09:00:00Z","category":"ProvisioningLogs","properties":{}}"#,
        ] {
            assert!(matches!(parse(s).unwrap(), Parsed::Skip(_)), "{s}");
        }
    }

    #[test]
    fn event_hub_batch() {
        let rec = r#"{"time":"2022-01-22T18:15:02Z","category":"AuditLogs","properties":{"id":"a","activityDisplayName":"Update service principal","operationType":"Update","result":"success","targetResources":[{"type":"ServicePrincipal","displayName":"billing","id":"sp"}]}}"#;
        let body =
            format!(r#"{{"records":[{rec},{rec},{{"category":"SignInLogs","properties":{{}}}}]}}"#);
        match parse(&body).unwrap() {
            Parsed::Events(v) => {
                assert_eq!(v.len(), 2);
                assert_eq!(
                    v[0].entity.as_ref().unwrap().type_name.as_deref(),
                    Some("service_principal")
                );
            }
            Parsed::Skip(n) => panic!("{n}"),
        }
    }
}
