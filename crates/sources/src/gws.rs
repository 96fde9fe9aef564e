//! Google Workspace: Admin SDK Reports API `activity` records (`admin#reports#activity`),
//! one per line, for any application (`login`, `admin`, `token`, `drive`, `saml`,
//! `user_accounts`, …).
//!
//! One activity holds one or more `events[]`; each becomes its own event, with the
//! activity's `id.uniqueQualifier` as uid (suffixed `:<index>` when there are several).
//!
//! Quirks handled:
//! - `events` is a single object instead of an array in some exports (Elastic's test data).
//! - Parameter values arrive as `value`, `intValue` (a string in the API, a number in some
//!   exports), `boolValue`, `multiValue`, `multiIntValue`, `messageValue` or
//!   `multiMessageValue`; OAuth scopes are in `scope` (`multiValue`) or only in the nested
//!   `scope_data` messages (`scope_name`).
//! - `uniqueQualifier` and `profileId` are numbers or strings.
//! - `login_challenge_method` is a single `value` or a `multiValue` list.
//! - An actor with `applicationInfo.impersonation` is an OAuth client acting for the user
//!   (domain-wide delegation): the client acts, the user is `on_behalf_of`.
//! - The Reports API has no session id and no token fingerprint: events carry no session.

use crate::lenient;
use crate::{ParseError, Parsed, RecordCtx, Source};
use midwatch_model::event::{
    Api, ApiService, AuthFactor, AutonomousSystem, DstEndpoint, Entity, File, Location, ProductRef,
    SrcEndpoint, User, WebResource,
};
use midwatch_model::{ClassUid, Event, IdentityKind, StatusId};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// The `gws` source: Google Workspace Reports API activities.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gws;

const SOURCE: &str = "gws";
const SVC_NAME: &str = "Google Workspace";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Activity {
    #[serde(deserialize_with = "object")]
    id: Option<ActivityId>,
    #[serde(deserialize_with = "object")]
    actor: Option<ActorRec>,
    #[serde(rename = "ipAddress", deserialize_with = "lenient::string")]
    ip_address: Option<String>,
    #[serde(rename = "networkInfo", deserialize_with = "object")]
    network_info: Option<NetworkInfo>,
    #[serde(deserialize_with = "one_or_many")]
    events: Vec<EventRec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActivityId {
    #[serde(deserialize_with = "lenient::time")]
    time: Option<i64>,
    #[serde(rename = "uniqueQualifier", deserialize_with = "lenient::string")]
    unique_qualifier: Option<String>,
    #[serde(rename = "applicationName", deserialize_with = "lenient::string")]
    application_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActorRec {
    #[serde(deserialize_with = "lenient::string")]
    email: Option<String>,
    #[serde(rename = "profileId", deserialize_with = "lenient::string")]
    profile_id: Option<String>,
    #[serde(rename = "callerType", deserialize_with = "lenient::string")]
    caller_type: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    key: Option<String>,
    #[serde(rename = "applicationInfo", deserialize_with = "object")]
    application_info: Option<ApplicationInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApplicationInfo {
    #[serde(rename = "oauthClientId", deserialize_with = "lenient::string")]
    oauth_client_id: Option<String>,
    #[serde(rename = "applicationName", deserialize_with = "lenient::string")]
    application_name: Option<String>,
    #[serde(deserialize_with = "lenient::bool")]
    impersonation: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NetworkInfo {
    #[serde(rename = "ipAsn", deserialize_with = "lenient::strings")]
    ip_asn: Vec<String>,
    #[serde(rename = "regionCode", deserialize_with = "lenient::string")]
    region_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventRec {
    #[serde(rename = "type", deserialize_with = "lenient::string")]
    kind: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(deserialize_with = "list")]
    parameters: Vec<Param>,
}

/// One event parameter; exactly one of the value fields is normally set.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Param {
    #[serde(deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    value: Option<String>,
    #[serde(rename = "intValue", deserialize_with = "lenient::string")]
    int_value: Option<String>,
    #[serde(rename = "boolValue", deserialize_with = "lenient::bool")]
    bool_value: Option<bool>,
    #[serde(rename = "multiValue", deserialize_with = "lenient::strings")]
    multi_value: Vec<String>,
    #[serde(rename = "multiIntValue", deserialize_with = "lenient::strings")]
    multi_int_value: Vec<String>,
    #[serde(rename = "messageValue", deserialize_with = "object")]
    message_value: Option<Message>,
    #[serde(rename = "multiMessageValue", deserialize_with = "list")]
    multi_message_value: Vec<Message>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Message {
    #[serde(deserialize_with = "list")]
    parameter: Vec<Param>,
}

/// A nested object read as `T`; `None` for null and for values that are not objects.
fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_any(ObjectVisitor(PhantomData))
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
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

/// Array elements read as `T`, skipping elements that are not objects.
struct ListVisitor<T>(PhantomData<T>);

struct ObjectSeed<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> de::DeserializeSeed<'de> for ObjectSeed<T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        object(d)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(ObjectSeed(PhantomData))? {
            if let Some(item) = item {
                out.push(item);
            }
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
        ObjectVisitor(PhantomData)
            .visit_map(map)
            .map(|o| o.into_iter().collect())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
}

/// A list of objects; a lone object counts as a list of one, anything else as empty.
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_any(ListVisitor(PhantomData))
}

/// `events`: an array of events, or (in some exports) a single event object.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    list(d)
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

/// Parameter lookups on one event.
struct Params<'a>(&'a [Param]);

impl<'a> Params<'a> {
    fn get(&self, name: &str) -> Option<&'a Param> {
        self.0.iter().find(|p| p.name.as_deref() == Some(name))
    }

    /// The scalar value of a parameter, whichever field carries it.
    fn str(&self, name: &str) -> Option<&'a str> {
        let p = self.get(name)?;
        p.value
            .as_deref()
            .or(p.int_value.as_deref())
            .or_else(|| p.multi_value.first().map(String::as_str))
            .or(match p.bool_value {
                Some(true) => Some("true"),
                Some(false) => Some("false"),
                None => None,
            })
    }

    fn bool(&self, name: &str) -> Option<bool> {
        let p = self.get(name)?;
        p.bool_value.or(match p.value.as_deref() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        })
    }

    /// Every value of a parameter: its `multiValue`, or its single value.
    fn values(&self, name: &str) -> Vec<&'a str> {
        match self.get(name) {
            Some(p) if !p.multi_value.is_empty() => {
                p.multi_value.iter().map(String::as_str).collect()
            }
            Some(p) if !p.multi_int_value.is_empty() => {
                p.multi_int_value.iter().map(String::as_str).collect()
            }
            Some(p) => p
                .value
                .as_deref()
                .or(p.int_value.as_deref())
                .into_iter()
                .collect(),
            None => Vec::new(),
        }
    }

    /// OAuth scopes: `scope` when present, else the `scope_name`s of `scope_data` messages.
    fn scopes(&self) -> Vec<String> {
        let direct = self.values("scope");
        if !direct.is_empty() {
            return direct
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(str::to_string)
                .collect();
        }
        let Some(data) = self.get("scope_data") else {
            return Vec::new();
        };
        data.multi_message_value
            .iter()
            .chain(data.message_value.as_ref())
            .filter_map(|m| Params(&m.parameter).str("scope_name"))
            .map(str::to_string)
            .collect()
    }
}

/// The application's domain, by Reports API application name.
fn app_domain(app: &str) -> Option<&'static str> {
    Some(match app {
        "login" | "token" | "saml" => "accounts.google.com",
        "admin" | "mobile" | "rules" | "context_aware_access" | "access_transparency" => {
            "admin.google.com"
        }
        "user_accounts" => "myaccount.google.com",
        "drive" => "drive.google.com",
        "calendar" => "calendar.google.com",
        "gmail" => "mail.google.com",
        "meet" => "meet.google.com",
        "chat" => "chat.google.com",
        "groups" | "groups_enterprise" => "groups.google.com",
        "keep" => "keep.google.com",
        "jamboard" => "jamboard.google.com",
        "data_studio" => "lookerstudio.google.com",
        "gcp" => "console.cloud.google.com",
        _ => return None,
    })
}

/// Login challenge methods that are a second factor.
fn is_second_factor(method: &str) -> bool {
    matches!(
        method,
        "backup_code"
            | "google_authenticator"
            | "google_prompt"
            | "idv_any_phone"
            | "idv_preregistered_phone"
            | "internal_two_factor"
            | "offline_otp"
            | "passkey"
            | "security_key"
            | "security_key_otp"
            | "totp"
            | "sms"
            | "voice"
    )
}

/// OCSF factor caption for a login challenge method.
fn factor_caption(method: &str) -> Option<&'static str> {
    Some(match method {
        "password" => "Password",
        "google_authenticator" | "totp" | "offline_otp" | "backup_code" | "security_key_otp" => {
            "OTP"
        }
        "google_prompt" | "internal_two_factor" => "Push Notification",
        "idv_any_phone" | "idv_preregistered_phone" | "sms" => "SMS",
        "voice" => "Phone Call",
        "security_key" | "passkey" => "WebAuthn",
        "knowledge_preregistered_email" => "Email",
        "knowledge_employee_id" => "Security Question",
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
struct Mapping {
    class: ClassUid,
    activity: u32,
    action: Option<&'static str>,
    status: StatusId,
}

const fn m(class: ClassUid, activity: u32, action: Option<&'static str>) -> Mapping {
    Mapping {
        class,
        activity,
        action,
        status: StatusId::Success,
    }
}

impl Mapping {
    const fn status(mut self, s: StatusId) -> Mapping {
        self.status = s;
        self
    }
}

/// Outcome from a `login_challenge_status` (`Challenge Passed.`, `passed`, `Challenge Failed.`).
fn challenge_status(s: Option<&str>) -> Option<StatusId> {
    let s = s?.to_ascii_lowercase();
    if s.contains("pass") || s.contains("success") {
        Some(StatusId::Success)
    } else if s.contains("fail") || s.contains("denied") {
        Some(StatusId::Failure)
    } else {
        None
    }
}

/// Events of the `login` and `user_accounts` applications.
fn classify_login(name: &str, kind: &str, p: &Params<'_>) -> Mapping {
    use ClassUid::*;
    match name {
        "login_success" => m(Authentication, 1, Some("login")),
        "login_failure" => m(Authentication, 1, Some("login")).status(StatusId::Failure),
        "logout" => m(Authentication, 2, Some("logout")),
        "login_challenge" | "login_verification" | "risky_sensitive_action_allowed" => {
            let status =
                challenge_status(p.str("login_challenge_status")).unwrap_or(StatusId::Unknown);
            m(Authentication, 99, Some("mfa_challenge")).status(status)
        }
        "risky_sensitive_action_blocked" => {
            m(Authentication, 99, Some("mfa_challenge")).status(StatusId::Failure)
        }
        "2sv_enroll" | "titanium_enroll" | "passkey_enrolled" => {
            m(AccountChange, 10, Some("mfa_enroll"))
        }
        "2sv_disable" | "titanium_unenroll" | "passkey_removed" => {
            m(AccountChange, 11, Some("mfa_remove"))
        }
        "password_edit" => m(AccountChange, 3, Some("password_change")),
        n if n.starts_with("account_disabled") => m(AccountChange, 5, Some("account_disable")),
        _ if kind == "account_warning" => m(AccountChange, 99, None),
        n if n.starts_with("recovery_") => m(AccountChange, 99, None),
        _ => m(ApiActivity, 99, None),
    }
}

/// Events of the `admin` application.
fn classify_admin(name: &str, kind: &str) -> Mapping {
    use ClassUid::*;
    match name {
        "ASSIGN_ROLE" => m(UserAccessManagement, 3, Some("role_assign")),
        "UNASSIGN_ROLE" => m(UserAccessManagement, 4, Some("role_remove")),
        "GRANT_ADMIN_PRIVILEGE" | "GRANT_DELEGATED_ADMIN_PRIVILEGES" => {
            m(UserAccessManagement, 1, Some("privilege_grant"))
        }
        "REVOKE_ADMIN_PRIVILEGE" | "REVOKE_DELEGATED_ADMIN_PRIVILEGES" => {
            m(UserAccessManagement, 2, Some("privilege_revoke"))
        }
        "ADD_GROUP_MEMBER" | "UPDATE_GROUP_MEMBER" => {
            m(UserAccessManagement, 1, Some("privilege_grant"))
        }
        "REMOVE_GROUP_MEMBER" => m(UserAccessManagement, 2, Some("privilege_revoke")),
        "CREATE_USER" => m(AccountChange, 1, Some("account_create")),
        "DELETE_USER" => m(AccountChange, 6, None),
        "SUSPEND_USER" => m(AccountChange, 5, Some("account_disable")),
        "UNSUSPEND_USER" | "UNDELETE_USER" => m(AccountChange, 2, None),
        "CHANGE_PASSWORD" => m(AccountChange, 3, Some("password_change")),
        "TURN_OFF_2_STEP_VERIFICATION" | "REVOKE_SECURITY_KEY" => {
            m(AccountChange, 11, Some("mfa_remove"))
        }
        "AUTHORIZE_API_CLIENT_ACCESS" => m(EntityManagement, 1, Some("oauth_consent")),
        "REMOVE_API_CLIENT_ACCESS" => m(EntityManagement, 4, Some("token_revoke")),
        "REVOKE_3LO_TOKEN" | "REVOKE_3LO_DEVICE_TOKENS" => {
            m(EntityManagement, 4, Some("token_revoke"))
        }
        "CHANGE_USER_SESSION_LENGTH" | "USER_SESSION_RESET" | "SIGN_OUT_USER" => {
            m(Authentication, 2, Some("session_revoked"))
        }
        _ if kind.ends_with("_SETTINGS") => m(EntityManagement, 3, None),
        _ => m(ApiActivity, 99, None),
    }
}

/// Events of the `token` application (OAuth grants).
fn classify_token(name: &str) -> Mapping {
    use ClassUid::*;
    match name {
        "authorize" => m(EntityManagement, 1, Some("oauth_consent")),
        "deny" => m(EntityManagement, 1, Some("oauth_consent")).status(StatusId::Failure),
        "revoke" => m(EntityManagement, 4, Some("token_revoke")),
        _ => m(ApiActivity, 99, None),
    }
}

/// Events of the `drive` application.
fn classify_drive(name: &str) -> Mapping {
    use ClassUid::*;
    match name {
        "upload" => m(FileHostingActivity, 1, Some("upload")),
        "download" => m(FileHostingActivity, 2, Some("download")),
        "edit" => m(FileHostingActivity, 3, None),
        "delete" | "trash" => m(FileHostingActivity, 4, None),
        "rename" => m(FileHostingActivity, 5, None),
        "copy" => m(FileHostingActivity, 6, None),
        "move" => m(FileHostingActivity, 7, None),
        "untrash" => m(FileHostingActivity, 8, None),
        "preview" => m(FileHostingActivity, 9, None),
        "view" => m(FileHostingActivity, 14, None),
        "sync_item_content" => m(FileHostingActivity, 15, None),
        n if n.starts_with("change_user_access")
            || n.starts_with("change_document_access_scope")
            || n.starts_with("change_document_visibility")
            || n == "change_acl_editors"
            || n == "shared_drive_membership_change" =>
        {
            m(FileHostingActivity, 12, Some("file_share"))
        }
        _ => m(FileHostingActivity, 99, None),
    }
}

fn classify(app: &str, name: &str, kind: &str, p: &Params<'_>) -> Mapping {
    match app {
        "login" | "user_accounts" => classify_login(name, kind, p),
        "saml" => match name {
            "login_success" => m(ClassUid::Authentication, 1, Some("login")),
            "login_failure" => {
                m(ClassUid::Authentication, 1, Some("login")).status(StatusId::Failure)
            }
            _ => m(ClassUid::ApiActivity, 99, None),
        },
        "admin" => classify_admin(name, kind),
        "token" => classify_token(name),
        "drive" => classify_drive(name),
        _ => m(ClassUid::ApiActivity, 99, None),
    }
}

/// The actor's identity kind from its caller type and address.
fn actor_kind(a: &ActorRec) -> IdentityKind {
    let key = a
        .caller_type
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("KEY"));
    let service = a
        .email
        .as_deref()
        .is_some_and(|e| e.ends_with(".gserviceaccount.com"));
    if key || service {
        IdentityKind::ServiceAccount
    } else {
        IdentityKind::Human
    }
}

fn human(uid: &str) -> User {
    let mut u = User::new(uid, IdentityKind::Human);
    if uid.contains('@') {
        u.email_addr = Some(uid.to_string());
    }
    u
}

impl Source for Gws {
    fn name(&self) -> &'static str {
        SOURCE
    }

    fn parse(&self, raw: &[u8], _ctx: RecordCtx) -> Result<Parsed, ParseError> {
        let a: Activity = parse_json(raw)?;
        let time =
            a.id.as_ref()
                .and_then(|i| i.time)
                .ok_or_else(|| ParseError::field("id.time", "missing or not an RFC 3339 time"))?;
        if a.events.is_empty() {
            return Err(ParseError::field(
                "events",
                "missing or empty: the activity holds no event",
            ));
        }
        let base_uid =
            a.id.as_ref()
                .and_then(|i| i.unique_qualifier.clone())
                .unwrap_or_else(|| crate::derived_uid(SOURCE, raw));
        let several = a.events.len() > 1;
        let mut out = Vec::with_capacity(a.events.len());
        for (i, ev) in a.events.iter().enumerate() {
            let Some(name) = ev.name.as_deref().filter(|n| !n.trim().is_empty()) else {
                continue;
            };
            let uid = if several {
                format!("{base_uid}:{i}")
            } else {
                base_uid.clone()
            };
            out.push(to_event(&a, ev, name, time, uid));
        }
        if out.is_empty() {
            return Err(ParseError::field(
                "events[0].name",
                "missing: no event of the activity is named",
            ));
        }
        Ok(Parsed::Events(out))
    }
}

fn to_event(a: &Activity, ev: &EventRec, name: &str, time: i64, uid: String) -> Event {
    let app =
        a.id.as_ref()
            .and_then(|i| i.application_name.as_deref())
            .unwrap_or("");
    let kind = ev.kind.as_deref().unwrap_or("");
    let p = Params(&ev.parameters);
    let mapping = classify(app, name, kind, &p);
    let mut e = Event::new(mapping.class, mapping.activity, time, uid);
    if mapping.class == ClassUid::Authentication && mapping.activity == 99 {
        e.activity_name = Some("MFA Challenge".into());
    }
    e.metadata.product = ProductRef {
        name: "Google Workspace Reports".into(),
        vendor_name: "Google".into(),
    };
    e.metadata.original_event_uid = a.id.as_ref().and_then(|i| i.unique_qualifier.clone());
    e.metadata.event_code = Some(name.to_string());
    e.midwatch.action = mapping.action.map(Into::into);
    e.set_status(mapping.status);

    // Who acted.
    let actor = a.actor.as_ref();
    let actor_uid = actor.and_then(|x| {
        x.email
            .clone()
            .or_else(|| x.profile_id.clone())
            .or_else(|| x.key.clone())
    });
    if let (Some(x), Some(uid)) = (actor, &actor_uid) {
        let info = x.application_info.as_ref();
        let client = info
            .filter(|i| i.impersonation == Some(true))
            .and_then(|i| i.oauth_client_id.clone());
        let mut u = User::new(uid.clone(), actor_kind(x));
        u.email_addr = x.email.clone();
        if let Some(client) = client {
            // Domain-wide delegation: the client acted as the user.
            let mut c = User::new(client, IdentityKind::ServiceAccount);
            c.name = info.and_then(|i| i.application_name.clone());
            e.actor.user = Some(Box::new(c));
            e.actor.on_behalf_of = Some(Box::new(u));
        } else {
            e.actor.user = Some(Box::new(u));
        }
        e.actor.app_name = info.and_then(|i| i.application_name.clone());
    }

    // Where from.
    let net = a.network_info.as_ref();
    let asn = net
        .and_then(|n| n.ip_asn.first())
        .and_then(|s| s.trim().parse::<u32>().ok());
    let country = net.and_then(|n| n.region_code.clone());
    if a.ip_address.is_some() || asn.is_some() || country.is_some() {
        e.src_endpoint = Some(Box::new(SrcEndpoint {
            ip: a.ip_address.clone(),
            location: country.map(|c| Location {
                country: Some(c),
                ..Location::default()
            }),
            autonomous_system: asn.map(|n| AutonomousSystem {
                number: Some(n),
                name: None,
            }),
            isp: None,
        }));
    }
    e.dst_endpoint = Some(Box::new(DstEndpoint {
        hostname: app_domain(app).map(str::to_string),
        svc_name: Some(
            p.str("application_name")
                .filter(|_| app == "saml")
                .unwrap_or(SVC_NAME)
                .to_string(),
        ),
    }));

    // How they authenticated.
    let methods = p.values("login_challenge_method");
    if matches!(app, "login" | "saml" | "user_accounts") {
        let second = methods.iter().any(|m| is_second_factor(m));
        let declared_second = p.bool("is_second_factor");
        for mth in &methods {
            if let Some(c) = factor_caption(mth) {
                e.auth_factors.push(AuthFactor {
                    factor_type: Some(c.into()),
                });
            }
        }
        if mapping.class == ClassUid::Authentication {
            // Google's own `is_second_factor` outranks what the method names suggest.
            e.is_mfa = match (declared_second, second) {
                (Some(declared), _) => Some(declared),
                (None, true) => Some(true),
                (None, false) if !methods.is_empty() && mapping.activity == 1 => Some(false),
                (None, false) => None,
            };
            let protocol = if app == "saml" {
                Some("sso")
            } else if methods.contains(&"passkey") {
                Some("passkey")
            } else {
                match p.str("login_type") {
                    Some("saml") => Some("sso"),
                    Some("google_password" | "exchange" | "reauth") => Some("password"),
                    Some("passkey") => Some("passkey"),
                    _ => None,
                }
            };
            if let Some(proto) = protocol.filter(|_| mapping.activity != 2) {
                e.auth_protocol = Some(proto.into());
                e.auth_protocol_id = Some(99);
            }
        }
        if p.bool("is_suspicious") == Some(true)
            || name.starts_with("suspicious_")
            || name == "gov_attack_warning"
        {
            e.metadata.labels.push("suspicious".into());
        }
        e.status_detail = p
            .str("login_failure_type")
            .map(str::to_string)
            .or_else(|| name.strip_prefix("account_disabled_").map(str::to_string))
            .or_else(|| p.str("sensitive_action_name").map(str::to_string));
    }

    // Whom it was done to.
    let target = p
        .str("affected_email_address")
        .or_else(|| p.str("USER_EMAIL"))
        .or_else(|| p.str("target_user"))
        .map(str::to_string);
    match (&target, mapping.class) {
        (Some(t), _) => e.user = Some(Box::new(human(t))),
        (None, ClassUid::Authentication | ClassUid::AccountChange) => {
            if let (Some(x), Some(uid)) = (actor, &actor_uid) {
                let mut u = User::new(uid.clone(), actor_kind(x));
                u.email_addr = x.email.clone();
                e.user = Some(Box::new(u));
            }
        }
        _ => {}
    }
    if mapping.class == ClassUid::UserAccessManagement {
        e.privileges = p
            .str("ROLE_NAME")
            .map(str::to_string)
            .or_else(|| p.str("GROUP_EMAIL").map(|g| format!("group:{g}")))
            .or_else(|| {
                name.contains("ADMIN_PRIVILEGE")
                    .then(|| "admin".to_string())
            })
            .into_iter()
            .collect();
    }

    // What it was done to.
    match mapping.class {
        ClassUid::EntityManagement => {
            let (type_name, ent_name, ent_uid, scopes) = match app {
                "token" => (
                    "oauth_grant",
                    p.str("app_name"),
                    p.str("client_id"),
                    p.scopes(),
                ),
                _ if name.contains("API_CLIENT") => (
                    "oauth_grant",
                    p.str("API_CLIENT_NAME"),
                    p.str("API_CLIENT_NAME"),
                    p.values("API_SCOPES")
                        .iter()
                        .flat_map(|s| s.split([',', ' ']))
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                ),
                _ if p.get("OAUTH2_APP_ID").is_some() => (
                    "oauth_app",
                    p.str("OAUTH2_APP_NAME"),
                    p.str("OAUTH2_APP_ID"),
                    Vec::new(),
                ),
                _ => (
                    "setting",
                    p.str("SETTING_NAME").or(Some(name)),
                    None,
                    Vec::new(),
                ),
            };
            e.entity = Some(Box::new(Entity {
                type_name: Some(type_name.into()),
                name: ent_name.map(str::to_string),
                uid: ent_uid.map(str::to_string),
                scopes,
            }));
        }
        ClassUid::FileHostingActivity => {
            let doc_id = p.str("doc_id");
            let title = p.str("doc_title");
            if doc_id.is_some() || title.is_some() {
                e.file = Some(Box::new(File {
                    name: title.map(str::to_string),
                    uid: doc_id.map(str::to_string),
                    ..File::default()
                }));
            }
            if let Some(v) = p.str("visibility")
                && matches!(
                    v,
                    "people_with_link" | "public_on_the_web" | "shared_externally"
                )
            {
                e.metadata.labels.push(format!("visibility:{v}"));
            }
        }
        ClassUid::ApiActivity => {
            e.api = Some(Box::new(Api {
                operation: Some(name.to_string()),
                service: Some(ApiService {
                    name: Some(if app.is_empty() {
                        SVC_NAME.into()
                    } else {
                        app.to_string().into()
                    }),
                }),
            }));
            if let Some(alert) = p.str("ALERT_ID") {
                e.web_resources.push(WebResource {
                    type_name: Some("alert".into()),
                    uid: Some(alert.to_string()),
                    ..WebResource::default()
                });
            }
        }
        _ => {}
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(s: &str) -> Result<Vec<Event>, ParseError> {
        match Gws.parse(s.as_bytes(), RecordCtx::default())? {
            Parsed::Events(v) => Ok(v),
            Parsed::Skip(n) => panic!("skipped: {n}"),
        }
    }

    fn parse(s: &str) -> Event {
        parse_all(s).unwrap().remove(0)
    }

    #[test]
    fn login_success_with_second_factor() {
        let e = parse(
            r#"{"kind":"admin#reports#activity","id":{"time":"2025-02-27T05:59:58.481Z","uniqueQualifier":"123","applicationName":"login","customerId":"C1"},
               "actor":{"callerType":"USER","email":"ann@example.com","profileId":"111"},"ipAddress":"81.2.69.144",
               "networkInfo":{"ipAsn":[64500],"regionCode":"GB","subdivisionCode":"GB-ENG"},
               "events":[{"type":"login","name":"login_success","parameters":[
                 {"name":"login_type","value":"google_password"},
                 {"name":"login_challenge_method","multiValue":["password","google_authenticator"]},
                 {"name":"is_suspicious","boolValue":false}]}]}"#,
        );
        assert_eq!(e.type_uid, 300201);
        assert_eq!(e.action(), Some("login"));
        assert_eq!(e.uid(), "123");
        assert_eq!(e.actor_uid(), Some("ann@example.com"));
        assert_eq!(e.is_mfa, Some(true));
        assert_eq!(e.auth_protocol.as_deref(), Some("password"));
        assert_eq!(e.auth_factors.len(), 2);
        assert_eq!(e.src_asn(), Some(64500));
        assert_eq!(e.src_country(), Some("GB"));
        assert_eq!(e.app_domain(), Some("accounts.google.com"));
        assert!(e.session_ref().is_none());
    }

    #[test]
    fn one_activity_many_events() {
        let v = parse_all(
            r#"{"id":{"time":"2025-01-01T00:00:00Z","uniqueQualifier":-5,"applicationName":"drive"},
               "actor":{"email":"bob@example.com","callerType":"USER"},
               "events":[{"name":"download","parameters":[{"name":"doc_id","value":"d1"},{"name":"doc_title","value":"plan"}]},
                         {"name":"change_user_access","parameters":[{"name":"target_user","value":"eve@evil.test"},{"name":"visibility","value":"shared_externally"}]},
                         {"name":"view"},{"type":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        let uids: Vec<&str> = v.iter().map(Event::uid).collect();
        assert_eq!(uids, ["-5:0", "-5:1", "-5:2"]);
        assert_eq!((v[0].type_uid, v[0].action()), (600602, Some("download")));
        assert_eq!(v[0].file.as_ref().unwrap().uid.as_deref(), Some("d1"));
        assert_eq!((v[1].type_uid, v[1].action()), (600612, Some("file_share")));
        assert_eq!(
            v[1].user.as_ref().unwrap().uid.as_deref(),
            Some("eve@evil.test")
        );
        assert_eq!(v[2].type_uid, 600614);
        assert_eq!(v[0].app_domain(), Some("drive.google.com"));
    }

    #[test]
    fn oauth_authorize_reads_nested_scopes() {
        let e = parse(
            r#"{"id":{"time":"2023-01-01T06:24:42.442Z","uniqueQualifier":"9","applicationName":"token"},"actor":{"email":"a@x.com"},
               "events":{"name":"authorize","parameters":[{"name":"client_id","value":"c1"},{"name":"app_name","value":"App"},{"name":"num_response_bytes","value":1223},
               {"name":"scope_data","multiMessageValue":[{"parameter":[{"name":"scope_name","value":"s1"}]},{"parameter":[{"name":"scope_name","value":"s2"}]}]}]}}"#,
        );
        assert_eq!((e.type_uid, e.action()), (300401, Some("oauth_consent")));
        let ent = e.entity.as_deref().unwrap();
        assert_eq!(ent.type_name.as_deref(), Some("oauth_grant"));
        assert_eq!(ent.uid.as_deref(), Some("c1"));
        assert_eq!(ent.scopes, ["s1", "s2"]);
        let e = parse(
            r#"{"id":{"time":"2023-01-01T06:24:42Z","applicationName":"token"},"events":[{"name":"revoke","parameters":[{"name":"client_id","value":"c1"}]}]}"#,
        );
        assert_eq!((e.type_uid, e.action()), (300404, Some("token_revoke")));
        assert!(e.uid().starts_with("gws:"));
    }

    #[test]
    fn admin_roles_and_settings() {
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","uniqueQualifier":1,"applicationName":"admin"},"actor":{"callerType":"USER","email":"root@x.com"},"events":[{"type":"DELEGATED_ADMIN_SETTINGS","name":"ASSIGN_ROLE","parameters":[{"name":"ROLE_NAME","value":"_SEED_ADMIN_ROLE"},{"name":"USER_EMAIL","value":"mallory@x.com"}]}]}"#,
        );
        assert_eq!((e.type_uid, e.action()), (300503, Some("role_assign")));
        assert_eq!(e.privileges, ["_SEED_ADMIN_ROLE"]);
        assert_eq!(
            e.user.as_ref().unwrap().uid.as_deref(),
            Some("mallory@x.com")
        );
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","applicationName":"admin"},"actor":{"email":"root@x.com"},"events":{"type":"SECURITY_SETTINGS","name":"CHANGE_SESSION_LENGTH","parameters":[{"name":"NEW_VALUE","value":"new"}]}}"#,
        );
        assert_eq!(e.type_uid, 300403);
        assert_eq!(e.app_domain(), Some("admin.google.com"));
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","applicationName":"admin"},"events":{"type":"ALERT_CENTER","name":"ALERT_CENTER_VIEW"}}"#,
        );
        assert_eq!(e.type_uid, 600399);
    }

    #[test]
    fn warnings_and_challenges() {
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","applicationName":"login"},"actor":{"email":"a@x.com"},"events":{"type":"account_warning","name":"suspicious_login","parameters":[{"name":"affected_email_address","value":"b@x.com"},{"name":"login_timestamp","intValue":1593695305123456}]}}"#,
        );
        assert_eq!(e.class_uid, ClassUid::AccountChange);
        assert_eq!(e.metadata.labels, ["suspicious"]);
        assert_eq!(e.user.as_ref().unwrap().uid.as_deref(), Some("b@x.com"));
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","applicationName":"login"},"events":{"type":"account_warning","name":"account_disabled_hijacked"}}"#,
        );
        assert_eq!((e.type_uid, e.action()), (300105, Some("account_disable")));
        assert_eq!(e.status_detail.as_deref(), Some("hijacked"));
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","applicationName":"login"},"actor":{"email":"a@x.com"},"events":{"type":"login","name":"login_verification","parameters":[{"name":"login_challenge_method","multiValue":["security_key"]},{"name":"login_challenge_status","value":"passed"},{"name":"is_second_factor","boolValue":true}]}}"#,
        );
        assert_eq!((e.type_uid, e.status_id), (300299, StatusId::Success));
        assert_eq!(e.is_mfa, Some(true));
        assert_eq!(e.activity_name.as_deref(), Some("MFA Challenge"));
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","applicationName":"login"},"actor":{"email":"a@x.com"},"events":{"type":"login","name":"login_failure","parameters":[{"name":"login_failure_type","value":"login_failure_invalid_password"}]}}"#,
        );
        assert_eq!(e.status_id, StatusId::Failure);
        assert_eq!(
            e.status_detail.as_deref(),
            Some("login_failure_invalid_password")
        );
    }

    #[test]
    fn delegated_and_key_actors() {
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","applicationName":"drive"},"actor":{"email":"ann@x.com","callerType":"USER","applicationInfo":{"oauthClientId":"1234","applicationName":"Backup Tool","impersonation":true}},"events":[{"name":"download"}]}"#,
        );
        let actor = e.actor.user.as_deref().unwrap();
        assert_eq!(actor.uid.as_deref(), Some("1234"));
        assert_eq!(actor.kind(), Some(IdentityKind::ServiceAccount));
        assert_eq!(
            e.actor.on_behalf_of.as_deref().unwrap().uid.as_deref(),
            Some("ann@x.com")
        );
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","applicationName":"admin"},"actor":{"callerType":"KEY","key":"SYSTEM"},"events":[{"name":"X"}]}"#,
        );
        let actor = e.actor.user.as_deref().unwrap();
        assert_eq!(
            (actor.uid.as_deref(), actor.kind()),
            (Some("SYSTEM"), Some(IdentityKind::ServiceAccount))
        );
    }

    #[test]
    fn lenient_and_rejections() {
        // Wrong types everywhere but the essentials.
        let e = parse(
            r#"{"id":{"time":"2020-10-02T15:00:00Z","uniqueQualifier":null,"applicationName":"login"},"actor":"nobody","ipAddress":null,"networkInfo":[1],"events":[{"name":"logout","parameters":{"name":"login_type","value":"exchange"}}, 5, "x"]}"#,
        );
        assert_eq!(e.type_uid, 300202);
        assert_eq!(e.actor.user, None);
        let err = parse_all(r#"{"id":{"applicationName":"login"},"events":[{"name":"logout"}]}"#)
            .unwrap_err();
        assert_eq!(err.path.as_deref(), Some("id.time"));
        let err = parse_all(r#"{"id":{"time":"soon"},"events":[{"name":"logout"}]}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("id.time"));
        let err = parse_all(r#"{"id":{"time":"2020-10-02T15:00:00Z"},"events":[]}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("events"));
        let err =
            parse_all(r#"{"id":{"time":"2020-10-02T15:00:00Z"},"events":[{"type":"login"}]}"#)
                .unwrap_err();
        assert_eq!(err.path.as_deref(), Some("events[0].name"));
        let err = parse_all("[]").unwrap_err();
        assert!(err.to_string().contains("not a JSON object"));
    }
}
