//! Microsoft Entra ID (Azure AD) sign-in logs.
//!
//! Reads one record in any of the shapes Entra sign-ins travel in:
//! - a Microsoft Graph `signIn` object (`/auditLogs/signIns`), fields at the top level;
//! - an Azure Monitor diagnostic record (storage account, Event Hub, `az monitor` export):
//!   `{"time", "category", "resultType", "callerIpAddress", "location": "GB", …,
//!   "properties": {…the Graph fields…}}` for every sign-in category (`SignInLogs`,
//!   `NonInteractiveUserSignInLogs`, `ServicePrincipalSignInLogs`,
//!   `MicrosoftServicePrincipalSignInLogs`, `ManagedIdentitySignInLogs`, `ADFSSignInLogs`);
//! - a Log Analytics row (`TimeGenerated`, `UserPrincipalName`, `LocationDetails`, …), whose
//!   top-level names are PascalCase and whose nested objects may arrive as JSON text;
//! - an Event Hub batch `{"records": [...]}` or a Graph page `{"value": [...]}`, whose items
//!   all become events.
//!
//! Interactive user sign-ins (and AD FS sign-ins) are Authentication logons (`login`);
//! non-interactive user sign-ins — a client redeeming a refresh token without the user —
//! are Authentication "Authentication Ticket" (activity 3, action `token_use`, label
//! `non_interactive`) so they never reset a session's login baseline; service principal and
//! managed identity sign-ins are logons by a `service_account`.
//!
//! Vendor quirks handled: `time` in the .NET `M/D/YYYY h:mm:ss AM` format and with seven
//! fractional digits; `resultType` and `errorCode` as strings or numbers; `Level` vs `level`;
//! `location` as a country code at the top level and an object inside `properties`;
//! latitude/longitude `0,0` with empty strings for "unknown"; empty strings for absent ids;
//! IPv4-mapped (`::ffff:`) and `::`-prefixed caller IPs; the tenant only in `resourceId`.
//! `uniqueTokenIdentifier` names a token, so only its SHA-256 is kept.
//!
//! Records of other categories (`AuditLogs`, risk or provisioning logs) are skipped with a
//! note. In an Event Hub batch, items that are not sign-ins are left out, and an item that
//! cannot be read is left out when the batch holds other events (the whole batch is rejected,
//! naming the item, only when nothing in it could be read).

use crate::lenient as l;
use crate::{ParseError, Parsed, RecordCtx, Source};
use midwatch_model::event::{
    AuthFactor, AutonomousSystem, Device, DstEndpoint, Location, ProductRef, SessionRef,
    SrcEndpoint, User,
};
use midwatch_model::hash::token_fingerprint;
use midwatch_model::{ClassUid, Event, IdentityKind, StatusId};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;

/// The `entra-signin` source: Entra ID sign-in logs (Graph, Azure Monitor, Log Analytics).
#[derive(Debug, Clone, Copy, Default)]
pub struct EntraSignin;

const NAME: &str = "entra-signin";

/// One sign-in record. The same struct reads the Azure Monitor envelope and, under
/// `properties`, the Graph-shaped body; a Graph object or Log Analytics row fills the body
/// fields at the top level. Aliases cover the Log Analytics PascalCase names.
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
    /// Log Analytics table name (`SigninLogs`, `AADNonInteractiveUserSignInLogs`, …).
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
    #[serde(default, alias = "Identity", deserialize_with = "l::string")]
    identity: Option<String>,
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

    // Graph `signIn` body.
    #[serde(default, alias = "Id", deserialize_with = "l::string")]
    id: Option<String>,
    #[serde(default, alias = "CreatedDateTime", deserialize_with = "l::string")]
    created_date_time: Option<String>,
    #[serde(default, alias = "CorrelationId", deserialize_with = "l::string")]
    correlation_id: Option<String>,
    #[serde(default, alias = "UserPrincipalName", deserialize_with = "l::string")]
    user_principal_name: Option<String>,
    #[serde(default, alias = "UserId", deserialize_with = "l::string")]
    user_id: Option<String>,
    #[serde(default, alias = "UserDisplayName", deserialize_with = "l::string")]
    user_display_name: Option<String>,
    #[serde(default, alias = "AlternateSignInName", deserialize_with = "l::string")]
    alternate_sign_in_name: Option<String>,
    #[serde(default, alias = "SignInIdentifier", deserialize_with = "l::string")]
    sign_in_identifier: Option<String>,
    #[serde(default, alias = "UserType", deserialize_with = "l::string")]
    user_type: Option<String>,
    #[serde(default, alias = "AppDisplayName", deserialize_with = "l::string")]
    app_display_name: Option<String>,
    #[serde(default, alias = "AppId", deserialize_with = "l::string")]
    app_id: Option<String>,
    #[serde(default, alias = "ResourceDisplayName", deserialize_with = "l::string")]
    resource_display_name: Option<String>,
    /// Log Analytics: the resource application id (`ResourceId` is the Azure resource there).
    #[serde(default, rename = "ResourceIdentity", deserialize_with = "l::string")]
    resource_identity: Option<String>,
    #[serde(
        default,
        alias = "IPAddress",
        alias = "IpAddress",
        deserialize_with = "l::string"
    )]
    ip_address: Option<String>,
    #[serde(default, alias = "AutonomousSystemNumber", deserialize_with = "l::asn")]
    autonomous_system_number: Option<u32>,
    #[serde(default, alias = "ClientAppUsed", deserialize_with = "l::string")]
    client_app_used: Option<String>,
    #[serde(
        default,
        alias = "ConditionalAccessStatus",
        deserialize_with = "l::string"
    )]
    conditional_access_status: Option<String>,
    #[serde(default, alias = "IsInteractive", deserialize_with = "l::bool")]
    is_interactive: Option<bool>,
    #[serde(
        default,
        alias = "RiskLevelDuringSignIn",
        deserialize_with = "l::string"
    )]
    risk_level_during_sign_in: Option<String>,
    #[serde(default, alias = "RiskLevelAggregated", deserialize_with = "l::string")]
    risk_level_aggregated: Option<String>,
    #[serde(default, alias = "RiskState", deserialize_with = "l::string")]
    risk_state: Option<String>,
    #[serde(default, alias = "RiskDetail", deserialize_with = "l::string")]
    risk_detail: Option<String>,
    #[serde(
        default,
        rename = "riskEventTypes_v2",
        alias = "RiskEventTypes_V2",
        deserialize_with = "l::strings"
    )]
    risk_event_types: Vec<String>,
    #[serde(default, alias = "Status", deserialize_with = "nested")]
    status: Option<Status>,
    #[serde(default, alias = "DeviceDetail", deserialize_with = "nested")]
    device_detail: Option<DeviceDetail>,
    #[serde(default, alias = "Location", deserialize_with = "location_field")]
    location: Option<LocationDetail>,
    #[serde(
        default,
        rename = "LocationDetails",
        deserialize_with = "location_field"
    )]
    location_details: Option<LocationDetail>,
    #[serde(default, alias = "MfaDetail", deserialize_with = "nested")]
    mfa_detail: Option<MfaDetail>,
    #[serde(
        default,
        alias = "AuthenticationDetails",
        deserialize_with = "nested_list"
    )]
    authentication_details: Vec<AuthDetail>,
    #[serde(
        default,
        alias = "AuthenticationRequirement",
        deserialize_with = "l::string"
    )]
    authentication_requirement: Option<String>,
    #[serde(
        default,
        alias = "AuthenticationProtocol",
        deserialize_with = "l::string"
    )]
    authentication_protocol: Option<String>,
    #[serde(default, alias = "SessionId", deserialize_with = "l::string")]
    session_id: Option<String>,
    #[serde(
        default,
        alias = "UniqueTokenIdentifier",
        deserialize_with = "l::string"
    )]
    unique_token_identifier: Option<String>,
    #[serde(
        default,
        alias = "TokenProtectionStatusDetails",
        deserialize_with = "nested"
    )]
    token_protection_status_details: Option<TokenProtection>,
    #[serde(default, alias = "SignInEventTypes", deserialize_with = "l::strings")]
    sign_in_event_types: Vec<String>,
    #[serde(default, alias = "ServicePrincipalId", deserialize_with = "l::string")]
    service_principal_id: Option<String>,
    #[serde(
        default,
        alias = "ServicePrincipalName",
        deserialize_with = "l::string"
    )]
    service_principal_name: Option<String>,
    #[serde(
        default,
        alias = "ServicePrincipalCredentialKeyId",
        deserialize_with = "l::string"
    )]
    service_principal_credential_key_id: Option<String>,
    #[serde(
        default,
        alias = "ClientCredentialType",
        deserialize_with = "l::string"
    )]
    client_credential_type: Option<String>,
    #[serde(default, alias = "UserAgent", deserialize_with = "l::string")]
    user_agent: Option<String>,
    #[serde(default, alias = "TokenIssuerName", deserialize_with = "l::string")]
    token_issuer_name: Option<String>,
    #[serde(default, alias = "TokenIssuerType", deserialize_with = "l::string")]
    token_issuer_type: Option<String>,
    #[serde(default, alias = "HomeTenantId", deserialize_with = "l::string")]
    home_tenant_id: Option<String>,
    #[serde(
        default,
        alias = "CrossTenantAccessType",
        deserialize_with = "l::string"
    )]
    cross_tenant_access_type: Option<String>,
    #[serde(default, alias = "IncomingTokenType", deserialize_with = "l::string")]
    incoming_token_type: Option<String>,
    #[serde(default, alias = "FlaggedForReview", deserialize_with = "l::bool")]
    flagged_for_review: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default, deserialize_with = "l::string")]
    error_code: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    failure_reason: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    additional_details: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceDetail {
    #[serde(default, deserialize_with = "l::string")]
    device_id: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    operating_system: Option<String>,
    #[serde(default, deserialize_with = "l::bool")]
    is_compliant: Option<bool>,
    #[serde(default, deserialize_with = "l::bool")]
    is_managed: Option<bool>,
    #[serde(default, deserialize_with = "l::string")]
    trust_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocationDetail {
    #[serde(default, deserialize_with = "l::string")]
    city: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    country_or_region: Option<String>,
    #[serde(default, deserialize_with = "nested")]
    geo_coordinates: Option<Geo>,
}

#[derive(Debug, Default, Deserialize)]
struct Geo {
    #[serde(default, deserialize_with = "l::f64")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "l::f64")]
    longitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MfaDetail {
    #[serde(default, deserialize_with = "l::string")]
    auth_method: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthDetail {
    #[serde(default, deserialize_with = "l::string")]
    authentication_method: Option<String>,
    #[serde(default, deserialize_with = "l::string")]
    authentication_step_requirement: Option<String>,
    #[serde(default, deserialize_with = "l::bool")]
    succeeded: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenProtection {
    #[serde(default, deserialize_with = "l::string")]
    sign_in_session_status: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Helpers shared with `entra_audit`.
// ---------------------------------------------------------------------------------------

/// Reads an object, or a string holding a JSON object (Log Analytics exports nested
/// columns as text); anything else is `None`. Text is unwrapped once, never recursively.
struct NestedVisitor<T> {
    allow_text: bool,
    _t: PhantomData<T>,
}

impl<T> NestedVisitor<T> {
    fn new(allow_text: bool) -> Self {
        NestedVisitor {
            allow_text,
            _t: PhantomData,
        }
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for NestedVisitor<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        if !self.allow_text || !v.trim_start().starts_with('{') {
            return Ok(None);
        }
        let mut d = serde_json::Deserializer::from_str(v);
        Ok(d.deserialize_any(NestedVisitor::<T>::new(false))
            .ok()
            .flatten())
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
}

struct NestedSeed<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> de::DeserializeSeed<'de> for NestedSeed<T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(NestedVisitor::<T>::new(false))
    }
}

/// A nested object (see [`NestedVisitor`]).
pub(crate) fn nested<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    d.deserialize_any(NestedVisitor::<T>::new(true))
}

fn nested_box<'de, D, T>(d: D) -> Result<Option<Box<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(nested::<D, T>(d)?.map(Box::new))
}

/// A list of objects: an array (items that are not objects dropped), one object, or a
/// string holding either.
struct ListVisitor<T> {
    allow_text: bool,
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for ListVisitor<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(NestedSeed::<T>(PhantomData))? {
            if let Some(item) = item {
                out.push(item);
            }
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
        Ok(vec![T::deserialize(
            de::value::MapAccessDeserializer::new(map),
        )?])
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<T>, E> {
        let t = v.trim_start();
        if !self.allow_text || !(t.starts_with('[') || t.starts_with('{')) {
            return Ok(Vec::new());
        }
        let mut d = serde_json::Deserializer::from_str(v);
        Ok(d.deserialize_any(ListVisitor::<T> {
            allow_text: false,
            _t: PhantomData,
        })
        .unwrap_or_default())
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
}

/// A list of nested objects (see [`ListVisitor`]).
pub(crate) fn nested_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    d.deserialize_any(ListVisitor::<T> {
        allow_text: true,
        _t: PhantomData,
    })
}

/// The items of an Event Hub batch (`records`) or Graph page (`value`), kept raw so each is
/// parsed, identified and hashed on its own; `None` when the field is not an array.
pub(crate) fn raw_records<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Box<RawValue>>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<Box<RawValue>>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<Box<RawValue>>()? {
                out.push(item);
            }
            Ok(Some(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// `location`: a country code (Azure Monitor envelope) or a `signInLocation` object (Graph),
/// possibly as JSON text (Log Analytics `LocationDetails`).
fn location_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LocationDetail>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<LocationDetail>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a country code or a location object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            NestedVisitor::<LocationDetail>::new(false).visit_map(map)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let t = v.trim();
            if t.starts_with('{') {
                return NestedVisitor::<LocationDetail>::new(true).visit_str(t);
            }
            Ok((!t.is_empty()).then(|| LocationDetail {
                country_or_region: Some(t.to_string()),
                ..LocationDetail::default()
            }))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            NestedVisitor::<LocationDetail>::new(false).visit_seq(seq)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// Parse one raw record as `T`, refusing what is not a JSON object and naming the field at
/// fault when the JSON does not fit.
pub(crate) fn parse_object<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ParseError> {
    let first = raw.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ParseError::record("record is not a JSON object"));
    }
    // One UTF-8 check of the whole record is cheaper than serde_json's check of every string.
    let text = std::str::from_utf8(raw)
        .map_err(|e| ParseError::record(format!("record is not UTF-8: {e}")))?;
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    // Only a failing record pays for path tracking.
    let mut de = serde_json::Deserializer::from_str(text);
    let err = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => {
            return Err(ParseError::record(
                "trailing characters after the JSON object",
            ));
        }
        Err(e) => e,
    };
    let path = err.path().to_string();
    let msg = err.into_inner().to_string();
    let reason = match msg.find(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(&msg).to_string(),
        None => msg,
    };
    let reason = format!("not valid JSON for this source: {reason}");
    Err(if path == "." || path.is_empty() {
        ParseError::record(reason)
    } else {
        ParseError::field(path, reason)
    })
}

/// Parse every item of a batch with `one`, keeping the events of the items that can be read.
pub(crate) fn parse_batch(
    items: &[Box<RawValue>],
    ctx: RecordCtx,
    one: impl Fn(&[u8], RecordCtx) -> Result<Parsed, ParseError>,
    what: &str,
) -> Result<Parsed, ParseError> {
    let mut events = Vec::new();
    let mut first_err = None;
    let mut skipped = 0usize;
    for (i, item) in items.iter().enumerate() {
        match one(item.get().as_bytes(), ctx) {
            Ok(Parsed::Events(evs)) => events.extend(evs),
            Ok(Parsed::Skip(_)) => skipped += 1,
            Err(e) => {
                if first_err.is_none() {
                    let path = match e.path {
                        Some(p) => format!("records[{i}].{p}"),
                        None => format!("records[{i}]"),
                    };
                    first_err = Some(ParseError::field(path, e.reason));
                }
            }
        }
    }
    if !events.is_empty() {
        return Ok(Parsed::Events(events));
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(Parsed::Skip(format!(
        "batch of {} records holds no {what} ({skipped} of other kinds)",
        items.len()
    )))
}

/// An IP address as text in canonical form: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes
/// IPv4, a stray `::` before a full IPv6 address (seen in Entra audit logs) is dropped, a
/// port or brackets are removed. Unparseable or unspecified (`0.0.0.0`) addresses are `None`.
pub(crate) fn normalize_ip(s: &str) -> Option<String> {
    let t = s.trim();
    let ip = t
        .parse::<IpAddr>()
        .ok()
        .or_else(|| t.strip_prefix("::").and_then(|r| r.parse::<IpAddr>().ok()))
        .or_else(|| t.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            t.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse::<IpAddr>().ok())
        })?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    (!ip.is_unspecified()).then(|| ip.to_string())
}

/// The tenant id in an Azure resource id `/tenants/<id>/providers/…`.
pub(crate) fn tenant_from_resource_id(resource_id: &str) -> Option<&str> {
    let lower_at = resource_id.to_ascii_lowercase().find("/tenants/")?;
    let rest = resource_id.get(lower_at + "/tenants/".len()..)?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// Parse the first time text that reads as a time; name the first present field when none
/// does, or `time` when none is present.
pub(crate) fn pick_time(candidates: &[(&str, Option<&str>)]) -> Result<i64, ParseError> {
    let mut bad = None;
    for (path, value) in candidates {
        if let Some(v) = value {
            if let Some(ms) = crate::lenient::parse_time_text(v) {
                return Ok(ms);
            }
            bad.get_or_insert((*path, *v));
        }
    }
    Err(match bad {
        Some((path, v)) => ParseError::field(path, format!("`{}` is not a time", clip(v))),
        None => ParseError::field("time", "missing: the record has no event time"),
    })
}

/// At most 64 characters of user input for an error message.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Label `key:value`, unless the value is one Entra uses for "nothing to report".
pub(crate) fn push_label(labels: &mut Vec<String>, key: &str, value: Option<&str>) {
    if let Some(v) = value
        && !matches!(
            v.to_ascii_lowercase().as_str(),
            "none" | "hidden" | "notapplied" | "unknown" | "unknownfuturevalue" | ""
        )
    {
        labels.push(format!("{key}:{v}"));
    }
}

/// The OCSF factor caption for an Entra authentication method, or `None` when the method
/// is a first factor (password, certificate) or no factor at all ("Previously satisfied").
pub(crate) fn factor_caption(method: &str) -> Option<String> {
    let m = method.to_ascii_lowercase();
    let caption = if m.is_empty()
        || m.contains("password")
        || m.contains("previously satisfied")
        || m.contains("certificate")
        || m == "none"
        || m == "federated"
    {
        return None;
    } else if m.contains("email") {
        "Email"
    } else if m.contains("notification") || m.contains("passwordless phone") {
        "Push Notification"
    } else if m.contains("sms") || m.contains("text message") {
        "SMS"
    } else if m.contains("voice") || m.contains("phone call") {
        "Phone Call"
    } else if m.contains("oath")
        || m.contains("otp")
        || m.contains("verification code")
        || m.contains("software token")
    {
        "TOTP"
    } else if m.contains("fido") || m.contains("passkey") || m.contains("security key") {
        "WebAuthn"
    } else {
        return Some(method.trim().to_string());
    };
    Some(caption.to_string())
}

/// The product every Entra record comes from.
pub(crate) fn entra_product() -> ProductRef {
    ProductRef {
        name: "Microsoft Entra ID".into(),
        vendor_name: "Microsoft".into(),
    }
}

/// Well-known Microsoft first-party application ids and the domain their traffic goes to.
const WELL_KNOWN_APPS: &[(&str, &str)] = &[
    ("00000002-0000-0000-c000-000000000000", "graph.windows.net"),
    (
        "00000002-0000-0ff1-ce00-000000000000",
        "outlook.office365.com",
    ),
    (
        "00000003-0000-0000-c000-000000000000",
        "graph.microsoft.com",
    ),
    ("00000003-0000-0ff1-ce00-000000000000", "sharepoint.com"),
    ("00000006-0000-0ff1-ce00-000000000000", "portal.office.com"),
    ("00000009-0000-0000-c000-000000000000", "app.powerbi.com"),
    (
        "0000000c-0000-0000-c000-000000000000",
        "myapps.microsoft.com",
    ),
    (
        "19db86c3-b2b9-44cc-b339-36da233a3be2",
        "mysignins.microsoft.com",
    ),
    (
        "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
        "teams.microsoft.com",
    ),
    (
        "2793995e-0a7d-40d7-bd35-6968ba142197",
        "myapps.microsoft.com",
    ),
    ("4765445b-32c6-49b0-83e6-1d93765276ca", "www.office.com"),
    (
        "5e3ce6c0-2b1f-4285-8d4b-75ee78787346",
        "teams.microsoft.com",
    ),
    ("72782ba9-4490-4f03-8d82-562370ea3566", "www.office.com"),
    (
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "management.azure.com",
    ),
    (
        "8c59ead7-d703-4a27-9e55-c96a0054c8d2",
        "myaccount.microsoft.com",
    ),
    ("9199bf20-a13f-4107-85dc-02114787ef48", "outlook.office.com"),
    ("c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "portal.azure.com"),
    (
        "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe",
        "teams.microsoft.com",
    ),
];

/// The domain of a well-known Microsoft application id.
pub(crate) fn well_known_app_domain(app_id: &str) -> Option<&'static str> {
    let id = app_id.trim();
    WELL_KNOWN_APPS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(id))
        .map(|(_, d)| *d)
}

/// The host of an `http(s)://` resource identifier (`https://api.example.com/x` →
/// `api.example.com`).
fn url_host(s: &str) -> Option<String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------
// Mapping.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Interactive,
    NonInteractive,
    ServicePrincipal,
    ManagedIdentity,
}

/// What a record's category says it is.
enum Category {
    SignIn(Option<Kind>),
    Other(String),
}

fn classify_category(c: &str) -> Category {
    let lower = c.trim().to_ascii_lowercase();
    let l = lower.strip_prefix("aad").unwrap_or(&lower);
    match l {
        "signinlogs" => Category::SignIn(Some(Kind::Interactive)),
        "noninteractiveusersigninlogs" => Category::SignIn(Some(Kind::NonInteractive)),
        "serviceprincipalsigninlogs" | "microsoftserviceprincipalsigninlogs" => {
            Category::SignIn(Some(Kind::ServicePrincipal))
        }
        "managedidentitysigninlogs" => Category::SignIn(Some(Kind::ManagedIdentity)),
        _ if l.contains("signinlogs") => Category::SignIn(None),
        _ => Category::Other(c.to_string()),
    }
}

/// First non-empty of two optional strings.
fn first<'a>(a: &'a Option<String>, b: &'a Option<String>) -> Option<&'a str> {
    a.as_deref().or(b.as_deref())
}

impl Source for EntraSignin {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse(&self, raw: &[u8], ctx: RecordCtx) -> Result<Parsed, ParseError> {
        let rec: Rec = parse_object(raw)?;
        if let Some(items) = &rec.records {
            return parse_batch(items, ctx, |r, c| self.parse(r, c), "sign-in records");
        }
        to_event(rec, raw)
    }
}

fn to_event(top: Rec, raw: &[u8]) -> Result<Parsed, ParseError> {
    let nested = top.properties.is_some();
    let empty = Rec::default();
    let p: &Rec = top.properties.as_deref().unwrap_or(&empty);
    // In a Graph object or Log Analytics row the body is the record itself.
    let b: &Rec = if nested { p } else { &top };
    let pre = if nested { "properties." } else { "" };

    // A Graph `signIn` has no category; a Graph `directoryAudit` has its own audit category.
    let category = first(&top.category, &top.table);
    let mut kind = None;
    if let Some(c) = category {
        match classify_category(c) {
            Category::SignIn(k) => kind = k,
            Category::Other(c) => {
                let audit = c.eq_ignore_ascii_case("auditlogs");
                if audit || !(looks_like_sign_in(b) || looks_like_sign_in(&top)) {
                    return Ok(Parsed::Skip(if audit {
                        "Entra audit log record: read it with the entra-audit source".into()
                    } else {
                        format!("category `{}` is not an Entra sign-in log", clip(&c))
                    }));
                }
            }
        }
    } else if !(looks_like_sign_in(b) || looks_like_sign_in(&top)) {
        return Err(ParseError::field(
            "category",
            "missing, and the record has no sign-in fields (`id`, `createdDateTime`, `userPrincipalName`, `appId`)",
        ));
    }

    let created_path = format!("{pre}createdDateTime");
    let time = pick_time(&[
        (created_path.as_str(), b.created_date_time.as_deref()),
        ("time", top.time.as_deref()),
    ])?;

    let is_adfs = category.is_some_and(|c| c.to_ascii_lowercase().contains("adfs"));
    let kind = kind.unwrap_or_else(|| kind_from_fields(b));
    let interactive = b.is_interactive.unwrap_or(kind == Kind::Interactive);
    let service = matches!(kind, Kind::ServicePrincipal | Kind::ManagedIdentity);

    let (activity, action) = match kind {
        Kind::NonInteractive => (3, "token_use"),
        _ => (1, "login"),
    };
    let uid =
        b.id.clone()
            .unwrap_or_else(|| crate::derived_uid(NAME, raw));
    let mut e = Event::new(ClassUid::Authentication, activity, time, uid);
    e.metadata.product = entra_product();
    e.metadata.original_event_uid = b.id.clone();
    e.metadata.event_code = category
        .map(str::to_string)
        .or_else(|| b.sign_in_event_types.first().cloned())
        .or_else(|| Some("signIn".into()));
    e.midwatch.action = Some(action.into());

    // Outcome: `status.errorCode` in the body, `resultType` in the envelope; 0 is success.
    let status = b.status.as_ref();
    let code = status
        .and_then(|s| s.error_code.as_deref())
        .or(first(&top.result_type, &p.result_type))
        .map(str::trim);
    let outcome = match code {
        Some("0") => StatusId::Success,
        Some(c) if c.eq_ignore_ascii_case("success") => StatusId::Success,
        Some(c) if c.eq_ignore_ascii_case("failure") => StatusId::Failure,
        Some(c) if c.parse::<i64>().is_ok() => StatusId::Failure,
        _ => match top
            .result_signature
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("success") => StatusId::Success,
            Some("failure" | "failed") => StatusId::Failure,
            _ => StatusId::Unknown,
        },
    };
    e.set_status(outcome);
    let mut labels = Vec::new();
    if outcome == StatusId::Failure {
        e.status_detail = status
            .and_then(|s| s.failure_reason.clone())
            .or_else(|| top.result_description.clone())
            .or_else(|| code.map(error_text));
        if let Some(c) = code.filter(|c| c.parse::<i64>().is_ok()) {
            labels.push(format!("error_code:{c}"));
        }
    }
    e.message = status
        .and_then(|s| s.additional_details.clone())
        .or_else(|| top.result_description.clone());

    // Who signed in.
    let user = if service {
        let uid = b
            .service_principal_name
            .as_deref()
            .or(b.service_principal_id.as_deref())
            .or(b.app_id.as_deref())
            .or(top.identity.as_deref());
        uid.map(|uid| {
            let mut u = User::new(uid, IdentityKind::ServiceAccount);
            u.name = b
                .app_display_name
                .clone()
                .or_else(|| b.service_principal_name.clone());
            u
        })
    } else {
        let upn = b.user_principal_name.as_deref();
        let login_name = upn
            .filter(|u| u.contains('@'))
            .or(b
                .alternate_sign_in_name
                .as_deref()
                .filter(|u| u.contains('@')))
            .or(b.sign_in_identifier.as_deref().filter(|u| u.contains('@')))
            .or(upn)
            .or(b.user_id.as_deref());
        login_name.map(|uid| {
            let mut u = User::new(uid, IdentityKind::Human);
            u.name = b.user_display_name.clone().or_else(|| top.identity.clone());
            u.email_addr = uid.contains('@').then(|| uid.to_string());
            u
        })
    };
    if let Some(u) = user {
        e.user = Some(Box::new(u.clone()));
        e.actor.user = Some(Box::new(u));
    }
    e.actor.app_name = b.app_display_name.clone();

    // How.
    let (auth_protocol, is_mfa, factors) = auth_facts(b, kind, outcome);
    if auth_protocol.is_some() {
        e.auth_protocol = auth_protocol.map(Into::into);
        e.auth_protocol_id = Some(99);
    }
    e.is_mfa = is_mfa;
    e.auth_factors = factors
        .into_iter()
        .map(|f| AuthFactor {
            factor_type: Some(f.into()),
        })
        .collect();

    // Session facts.
    let credential_uid = b.unique_token_identifier.as_deref().map(token_fingerprint);
    if b.session_id.is_some() || credential_uid.is_some() {
        e.actor.session = Some(Box::new(SessionRef {
            uid: b.session_id.clone(),
            credential_uid,
            is_mfa,
            issuer: b
                .token_issuer_name
                .clone()
                .or_else(|| b.token_issuer_type.clone()),
            ..SessionRef::default()
        }));
    }

    // Where from.
    let ip = first(&b.ip_address, &top.caller_ip_address).and_then(normalize_ip);
    // The envelope's `location` is only a country code; the body's object has the rest.
    let locs = [&b.location, &b.location_details, &top.location];
    let locs = locs.iter().filter_map(|l| l.as_ref());
    let city = locs.clone().find_map(|l| l.city.clone());
    let country = locs.clone().find_map(|l| l.country_or_region.clone());
    let (lat, long) = locs
        .filter_map(|l| l.geo_coordinates.as_ref())
        .map(|g| (g.latitude, g.longitude))
        .find(|(la, lo)| !(la.unwrap_or(0.0) == 0.0 && lo.unwrap_or(0.0) == 0.0))
        .unwrap_or((None, None));
    let location = (city.is_some() || country.is_some() || lat.is_some()).then_some(Location {
        city,
        country,
        lat,
        long,
    });
    if ip.is_some() || location.is_some() || b.autonomous_system_number.is_some() {
        e.src_endpoint = Some(Box::new(SrcEndpoint {
            ip,
            location,
            autonomous_system: b.autonomous_system_number.map(|n| AutonomousSystem {
                number: Some(n),
                name: None,
            }),
            isp: None,
        }));
    }
    if let Some(d) = &b.device_detail {
        let managed = match (d.is_managed, d.is_compliant) {
            (None, None) => None,
            (m, c) => Some(m.unwrap_or(false) || c.unwrap_or(false)),
        };
        if d.device_id.is_some() || d.operating_system.is_some() || managed.is_some() {
            e.device = Some(Box::new(Device {
                uid: d.device_id.clone(),
                is_managed: managed,
                os_name: d.operating_system.clone(),
            }));
        }
        push_label(&mut labels, "device_trust", d.trust_type.as_deref());
    }
    if let Some(ua) = &b.user_agent {
        e.http_request.get_or_insert_with(Box::default).user_agent = Some(ua.clone());
    }

    // To what.
    let svc_name = b
        .app_display_name
        .clone()
        .or_else(|| b.resource_display_name.clone());
    let resource = b.resource_identity.as_deref().or(b
        .resource_id
        .as_deref()
        .filter(|r| !r.starts_with("/tenants/")));
    let hostname = b
        .app_id
        .as_deref()
        .and_then(well_known_app_domain)
        .map(str::to_string)
        .or_else(|| resource.and_then(url_host))
        .or_else(|| resource.and_then(well_known_app_domain).map(str::to_string));
    if svc_name.is_some() || hostname.is_some() {
        e.dst_endpoint = Some(Box::new(DstEndpoint { hostname, svc_name }));
    }

    // Everything else worth keeping, as labels.
    if !interactive && !service {
        labels.push("non_interactive".into());
    }
    if is_adfs {
        labels.push("adfs".into());
    }
    push_label(
        &mut labels,
        "correlation_id",
        first(&b.correlation_id, &top.correlation_id),
    );
    let tenant = first(&top.tenant_id, &p.tenant_id)
        .or_else(|| first(&top.resource_id, &p.resource_id).and_then(tenant_from_resource_id));
    push_label(&mut labels, "tenant_id", tenant);
    if let Some(home) = b.home_tenant_id.as_deref()
        && tenant.is_some_and(|t| !t.eq_ignore_ascii_case(home))
    {
        labels.push(format!("home_tenant_id:{home}"));
    }
    push_label(&mut labels, "user_type", b.user_type.as_deref());
    push_label(&mut labels, "client_app", b.client_app_used.as_deref());
    push_label(
        &mut labels,
        "auth_protocol",
        b.authentication_protocol.as_deref(),
    );
    push_label(
        &mut labels,
        "client_credential",
        b.client_credential_type.as_deref(),
    );
    push_label(
        &mut labels,
        "credential_key_id",
        b.service_principal_credential_key_id.as_deref(),
    );
    push_label(
        &mut labels,
        "incoming_token",
        b.incoming_token_type.as_deref(),
    );
    push_label(
        &mut labels,
        "cross_tenant",
        b.cross_tenant_access_type.as_deref(),
    );
    if let Some(ca) = b.conditional_access_status.as_deref() {
        labels.push(format!("conditional_access:{ca}"));
    }
    push_label(
        &mut labels,
        "token_protection",
        b.token_protection_status_details
            .as_ref()
            .and_then(|t| t.sign_in_session_status.as_deref()),
    );
    push_label(
        &mut labels,
        "risk_level",
        b.risk_level_during_sign_in.as_deref(),
    );
    push_label(
        &mut labels,
        "risk_level_aggregated",
        b.risk_level_aggregated.as_deref(),
    );
    push_label(&mut labels, "risk_state", b.risk_state.as_deref());
    push_label(&mut labels, "risk_detail", b.risk_detail.as_deref());
    for r in &b.risk_event_types {
        push_label(&mut labels, "risk_event", Some(r));
    }
    if b.flagged_for_review == Some(true) {
        labels.push("flagged_for_review".into());
    }
    e.metadata.labels = labels;
    Ok(Parsed::Events(vec![e]))
}

/// Documented meanings of common sign-in error codes (AADSTS…), for records that carry the
/// code without its `failureReason`.
const ERROR_CODES: &[(&str, &str)] = &[
    ("50034", "the user account does not exist in the directory"),
    ("50053", "the account is locked"),
    ("50055", "the password is expired"),
    ("50057", "the user account is disabled"),
    ("50074", "strong authentication is required"),
    ("50076", "multi-factor authentication is required"),
    (
        "50079",
        "the user must enroll for multi-factor authentication",
    ),
    ("50126", "invalid username or password"),
    ("50140", "interrupted by the 'keep me signed in' prompt"),
    ("53003", "blocked by conditional access"),
    (
        "500121",
        "authentication failed during the strong authentication request",
    ),
    ("7000215", "invalid client secret"),
    ("7000222", "the client secret keys are expired"),
];

/// `error <code>` with the code's documented meaning when known.
fn error_text(code: &str) -> String {
    match ERROR_CODES.iter().find(|(c, _)| *c == code) {
        Some((_, text)) => format!("error {code}: {text}"),
        None => format!("error {code}"),
    }
}

/// True when a record without a sign-in category still carries sign-in fields.
fn looks_like_sign_in(b: &Rec) -> bool {
    b.operation_name
        .as_deref()
        .is_some_and(|o| o.eq_ignore_ascii_case("sign-in activity"))
        || b.created_date_time.is_some()
        || b.user_principal_name.is_some()
        || b.app_id.is_some()
        || b.service_principal_id.is_some()
        || (b.id.is_some() && b.status.is_some())
        || !b.sign_in_event_types.is_empty()
}

/// The sign-in kind of a record that has no category (a Graph object).
fn kind_from_fields(b: &Rec) -> Kind {
    for t in &b.sign_in_event_types {
        match t.to_ascii_lowercase().as_str() {
            "interactiveuser" => return Kind::Interactive,
            "noninteractiveuser" => return Kind::NonInteractive,
            "serviceprincipal" => return Kind::ServicePrincipal,
            "managedidentity" => return Kind::ManagedIdentity,
            _ => {}
        }
    }
    if b.user_principal_name.is_none() && b.user_id.is_none() && b.service_principal_id.is_some() {
        return Kind::ServicePrincipal;
    }
    match b.is_interactive {
        Some(false) => Kind::NonInteractive,
        _ => Kind::Interactive,
    }
}

/// Authentication method, whether MFA was satisfied, and the second factors used or
/// challenged.
fn auth_facts(
    b: &Rec,
    kind: Kind,
    outcome: StatusId,
) -> (Option<&'static str>, Option<bool>, Vec<String>) {
    if matches!(kind, Kind::ServicePrincipal | Kind::ManagedIdentity) {
        let proto = match b
            .client_credential_type
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("certificate" | "clientassertion") => Some("certificate"),
            Some("clientsecret") => Some("api_key"),
            Some("federatedidentitycredential" | "managedidentity") => Some("token"),
            _ if kind == Kind::ManagedIdentity => Some("token"),
            _ => None,
        };
        return (proto, None, Vec::new());
    }
    let mut factors: Vec<String> = Vec::new();
    let mut mfa_used = false;
    let mut first_factor = None;
    let mfa_method = b.mfa_detail.as_ref().and_then(|m| m.auth_method.as_deref());
    let methods = b
        .authentication_details
        .iter()
        .map(|d| {
            (
                d.authentication_method.as_deref(),
                d.authentication_step_requirement.as_deref(),
                d.succeeded,
            )
        })
        .chain(std::iter::once((mfa_method, None, None)));
    for (method, step, succeeded) in methods {
        let Some(method) = method else { continue };
        let m = method.to_ascii_lowercase();
        let factor = factor_caption(method);
        let ok = succeeded != Some(false);
        if first_factor.is_none() {
            first_factor = if m.contains("password") && !m.contains("passwordless") {
                Some("password")
            } else if m.contains("certificate") {
                Some("certificate")
            } else if m.contains("fido")
                || m.contains("passkey")
                || m.contains("windows hello")
                || m.contains("security key")
            {
                Some("passkey")
            } else if m.contains("previously satisfied") {
                Some("token")
            } else {
                None
            };
        }
        if ok
            && (factor.is_some() || step.is_some_and(|s| s.to_ascii_lowercase().contains("multi")))
        {
            mfa_used = true;
        }
        if let Some(f) = factor
            && !factors.contains(&f)
        {
            factors.push(f);
        }
    }
    if mfa_method.is_some() {
        mfa_used = true;
    }
    let requirement = b
        .authentication_requirement
        .as_deref()
        .map(str::to_ascii_lowercase);
    let mfa_required = requirement.as_deref() == Some("multifactorauthentication");
    let is_mfa = if (mfa_used && outcome != StatusId::Failure)
        || (mfa_required && outcome == StatusId::Success)
    {
        Some(true)
    } else if outcome == StatusId::Success
        && requirement.as_deref() == Some("singlefactorauthentication")
    {
        Some(false)
    } else {
        None
    };
    let incoming_token = b
        .incoming_token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("none"));
    // Entra is the IdP of every sign-in it logs, but say so only when the record names who
    // signed in to what.
    let named = (b.user_principal_name.is_some() || b.user_id.is_some())
        && (b.app_id.is_some() || b.app_display_name.is_some());
    let proto = first_factor.or(if incoming_token || kind == Kind::NonInteractive {
        Some("token")
    } else if named {
        Some("sso")
    } else {
        None
    });
    (proto, is_mfa, factors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Parsed, ParseError> {
        EntraSignin.parse(s.as_bytes(), RecordCtx::default())
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

    const GRAPH: &str = r#"{
        "id": "66ea54eb-6301-4ee5-be62-ff5a759b0100",
        "createdDateTime": "2026-01-05T09:00:00Z",
        "userDisplayName": "Alice Example",
        "userPrincipalName": "alice@contoso.com",
        "userId": "d7cc485d-2c1b-422c-98fd-5ce52859a4a3",
        "appId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        "appDisplayName": "Azure Portal",
        "ipAddress": "::ffff:203.0.113.7",
        "clientAppUsed": "Browser",
        "correlationId": "c1",
        "conditionalAccessStatus": "success",
        "isInteractive": true,
        "riskLevelDuringSignIn": "medium",
        "riskState": "atRisk",
        "status": {"errorCode": 0, "failureReason": null},
        "deviceDetail": {"deviceId": "dev-1", "operatingSystem": "Windows 10", "browser": "Edge", "isCompliant": "true", "isManaged": false, "trustType": "Azure AD joined"},
        "location": {"city": "Lisbon", "state": "Lisboa", "countryOrRegion": "PT", "geoCoordinates": {"latitude": "38.72", "longitude": -9.14}},
        "mfaDetail": {"authMethod": "Mobile app notification", "authDetail": null},
        "authenticationDetails": [
            {"authenticationMethod": "Password", "succeeded": true, "authenticationStepRequirement": "Primary authentication"},
            {"authenticationMethod": "Mobile app notification", "succeeded": true, "authenticationStepRequirement": "Multi-factor authentication"}
        ],
        "authenticationRequirement": "multiFactorAuthentication",
        "sessionId": "sess-1",
        "uniqueTokenIdentifier": "tok-abc",
        "tokenProtectionStatusDetails": {"signInSessionStatus": "unbound", "signInSessionStatusCode": 1002},
        "signInEventTypes": ["interactiveUser"],
        "autonomousSystemNumber": "64500",
        "userAgent": "Mozilla/5.0"
    }"#;

    #[test]
    fn graph_interactive_sign_in() {
        let e = one(GRAPH);
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::Authentication, 1));
        assert_eq!(e.time, 1_767_603_600_000);
        assert_eq!(e.status_id, StatusId::Success);
        assert_eq!(e.midwatch.action.as_deref(), Some("login"));
        assert_eq!(e.actor_uid(), Some("alice@contoso.com"));
        let u = e.actor.user.as_deref().unwrap();
        assert_eq!(u.kind(), Some(IdentityKind::Human));
        assert_eq!(u.name.as_deref(), Some("Alice Example"));
        let s = e.session_ref().unwrap();
        assert_eq!(s.uid.as_deref(), Some("sess-1"));
        assert_eq!(
            s.credential_uid.as_deref(),
            Some(token_fingerprint("tok-abc").as_str())
        );
        assert_eq!(s.is_mfa, Some(true));
        assert_eq!(e.src_ip(), Some("203.0.113.7"));
        assert_eq!(e.src_asn(), Some(64500));
        assert_eq!(e.src_country(), Some("PT"));
        let loc = e.src_endpoint.as_ref().unwrap().location.clone().unwrap();
        assert_eq!((loc.lat, loc.long), (Some(38.72), Some(-9.14)));
        let d = e.device.as_deref().unwrap();
        assert_eq!(d.uid.as_deref(), Some("dev-1"));
        assert_eq!(d.is_managed, Some(true));
        assert_eq!(d.os_name.as_deref(), Some("Windows 10"));
        assert_eq!(e.app_domain(), Some("portal.azure.com"));
        assert_eq!(
            e.dst_endpoint.as_ref().unwrap().svc_name.as_deref(),
            Some("Azure Portal")
        );
        assert_eq!(e.auth_protocol.as_deref(), Some("password"));
        assert_eq!(e.is_mfa, Some(true));
        assert_eq!(
            e.auth_factors[0].factor_type.as_deref(),
            Some("Push Notification")
        );
        assert_eq!(e.auth_factors.len(), 1);
        assert_eq!(e.user_agent(), Some("Mozilla/5.0"));
        let l = &e.metadata.labels;
        for want in [
            "correlation_id:c1",
            "conditional_access:success",
            "risk_level:medium",
            "risk_state:atRisk",
            "token_protection:unbound",
            "client_app:Browser",
        ] {
            assert!(l.iter().any(|x| x == want), "{want} not in {l:?}");
        }
        assert!(!l.iter().any(|x| x == "non_interactive"));
        assert_eq!(e.metadata.event_code.as_deref(), Some("interactiveUser"));
        assert_eq!(
            e.metadata.original_event_uid.as_deref(),
            Some("66ea54eb-6301-4ee5-be62-ff5a759b0100")
        );
        assert!(
            !e.to_ocsf_json().contains("tok-abc"),
            "raw token identifier leaked"
        );
    }

    #[test]
    fn azure_monitor_non_interactive_and_failure() {
        let e = one(
            r#"{"time":"2019-10-18T09:45:48.0729893Z","category":"NonInteractiveUserSignInLogs",
                "resultType":"50140","resultDescription":"interrupt","callerIpAddress":"81.2.69.144",
                "location":"FR","tenantId":"t-1","Level":"4",
                "properties":{"id":"x1","createdDateTime":"2019-10-18T04:45:48.0729893-05:00",
                  "userPrincipalName":"bob@contoso.com","isInteractive":false,
                  "status":{"errorCode":"50140","failureReason":"Keep me signed in interrupt"},
                  "authenticationDetails":[{"authenticationMethod":"Previously satisfied","succeeded":true}]}}"#,
        );
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::Authentication, 3));
        assert_eq!(e.activity_name.as_deref(), Some("Authentication Ticket"));
        assert_eq!(e.midwatch.action.as_deref(), Some("token_use"));
        assert_eq!(e.status_id, StatusId::Failure);
        assert_eq!(
            e.status_detail.as_deref(),
            Some("Keep me signed in interrupt")
        );
        assert_eq!(e.src_ip(), Some("81.2.69.144"));
        assert_eq!(e.src_country(), Some("FR"));
        assert_eq!(e.auth_protocol.as_deref(), Some("token"));
        assert_eq!(e.is_mfa, None);
        assert_eq!(e.time, 1_571_391_948_072);
        let l = &e.metadata.labels;
        assert!(l.iter().any(|x| x == "non_interactive"));
        assert!(l.iter().any(|x| x == "error_code:50140"));
        assert!(l.iter().any(|x| x == "tenant_id:t-1"));
    }

    #[test]
    fn service_principal_and_managed_identity() {
        let e = one(
            r#"{"time":"2021-07-30T11:29:26.6733668Z","category":"ServicePrincipalSignInLogs","resultType":"0",
                "properties":{"id":"sp1","appId":"app-1","servicePrincipalId":"sp-obj-1",
                  "servicePrincipalName":"billing-bot","resourceDisplayName":"Microsoft Graph",
                  "resourceId":"00000003-0000-0000-c000-000000000000","clientCredentialType":"clientSecret",
                  "servicePrincipalCredentialKeyId":"key-1","status":{"errorCode":0},"userId":null}}"#,
        );
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::Authentication, 1));
        let u = e.actor.user.as_deref().unwrap();
        assert_eq!(u.uid.as_deref(), Some("billing-bot"));
        assert_eq!(u.kind(), Some(IdentityKind::ServiceAccount));
        assert_eq!(e.auth_protocol.as_deref(), Some("api_key"));
        assert_eq!(e.app_domain(), Some("graph.microsoft.com"));
        assert!(
            e.metadata
                .labels
                .iter()
                .any(|l| l == "credential_key_id:key-1")
        );
        assert!(!e.metadata.labels.iter().any(|l| l == "non_interactive"));

        let e = one(
            r#"{"time":"2021-07-30T11:29:26Z","category":"ManagedIdentitySignInLogs",
                "properties":{"servicePrincipalId":"mi-obj","appId":"mi-app","status":{"errorCode":0}}}"#,
        );
        let u = e.actor.user.as_deref().unwrap();
        assert_eq!(u.uid.as_deref(), Some("mi-obj"));
        assert_eq!(u.kind(), Some(IdentityKind::ServiceAccount));
        assert_eq!(e.auth_protocol.as_deref(), Some("token"));
    }

    #[test]
    fn log_analytics_row_with_json_text_columns() {
        let e = one(
            r#"{"TimeGenerated":"2026-01-05T09:00:00Z","Category":"SignInLogs","ResultType":0,
                "UserPrincipalName":"carol@contoso.com","IPAddress":"2001:db8::1","Location":"DE",
                "LocationDetails":"{\"city\":\"Berlin\",\"countryOrRegion\":\"DE\"}",
                "DeviceDetail":"{\"deviceId\":\"d-9\",\"isManaged\":true}",
                "Status":"{\"errorCode\":0}","SessionId":"s-9","Id":"la-1"}"#,
        );
        assert_eq!(e.actor_uid(), Some("carol@contoso.com"));
        assert_eq!(e.src_ip(), Some("2001:db8::1"));
        assert_eq!(e.src_country(), Some("DE"));
        assert_eq!(
            e.src_endpoint
                .as_ref()
                .unwrap()
                .location
                .as_ref()
                .unwrap()
                .city
                .as_deref(),
            Some("Berlin")
        );
        assert_eq!(e.device_id(), Some("d-9"));
        assert_eq!(e.status_id, StatusId::Success);
        assert_eq!(e.session_ref().unwrap().uid.as_deref(), Some("s-9"));
        assert_eq!(e.uid(), "la-1");
    }

    #[test]
    fn event_hub_batch_yields_every_record() {
        let body = format!(
            r#"{{"records":[{g},{{"time":"2026-01-05T10:00:00Z","category":"SignInLogs","properties":{{"id":"b2","userPrincipalName":"d@x.com"}}}},{{"time":"2026-01-05T10:00:00Z","category":"AuditLogs","properties":{{}}}}]}}"#,
            g = GRAPH
        );
        match parse(&body).unwrap() {
            Parsed::Events(v) => {
                assert_eq!(v.len(), 2);
                assert_eq!(v[1].uid(), "b2");
            }
            Parsed::Skip(n) => panic!("{n}"),
        }
        let err = parse(r#"{"records":[{"category":"SignInLogs","properties":{"id":"x"}}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("`records[0].time`"), "{err}");
        assert!(matches!(
            parse(r#"{"records":[]}"#).unwrap(),
            Parsed::Skip(_)
        ));
    }

    #[test]
    fn quirks_null_and_strings() {
        let e = one(
            r#"{"time":"12/12/2025 3:03:58 PM","category":"ADFSSignInLogs","resultType":"0",
                "properties":{"id":null,"userPrincipalName":"null","alternateSignInName":"april@x.com",
                  "deviceDetail":{"deviceId":"","operatingSystem":""},
                  "location":{"city":"","countryOrRegion":"","geoCoordinates":{"latitude":0,"longitude":0}},
                  "isInteractive":"true","ipAddress":"10.0.0.1:5555",
                  "authenticationDetails":[{"authenticationMethod":"Password","succeeded":true}]}}"#,
        );
        assert_eq!(e.time, 1_765_551_838_000);
        assert_eq!(e.actor_uid(), Some("april@x.com"));
        assert!(e.device.is_none());
        assert_eq!(e.src_ip(), Some("10.0.0.1"));
        assert!(e.src_endpoint.as_ref().unwrap().location.is_none());
        assert_eq!(e.auth_protocol.as_deref(), Some("password"));
        assert!(e.uid().starts_with("entra-signin:"));
        assert!(e.metadata.labels.iter().any(|l| l == "adfs"));
    }

    #[test]
    fn rejections_name_the_field() {
        let cases = [
            (
                r#"{"category":"SignInLogs","properties":{"id":"x"}}"#,
                "`time`: missing",
            ),
            (
                r#"{"time":"yesterday","category":"SignInLogs"}"#,
                "`time`: `yesterday` is not a time",
            ),
            (
                r#"{"id":"x","createdDateTime":"soon","status":{"errorCode":0}}"#,
                "`createdDateTime`: `soon` is not a time",
            ),
            (r#"{"time":"2026-01-05T09:00:00Z"}"#, "`category`: missing"),
            (r#"[1,2]"#, "not a JSON object"),
            (r#"{"time":"2026-01-05T09:00:00Z""#, "not valid JSON"),
        ];
        for (input, want) in cases {
            let err = parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}\n  got: {err}\n want: {want}");
        }
    }

    #[test]
    fn other_categories_are_skipped() {
        for s in [
            r#"{"time":"2026-01-05T09:00:00Z","category":"AuditLogs","properties":{"activityDisplayName":"x"}}"#,
            r#"{"time":"2026-01-05T09:00:00Z","category":"RiskyUsers","properties":{}}"#,
            r#"{"activityDateTime":"2026-01-05T09:00:00Z","category":"UserManagement","activityDisplayName":"Add user"}"#,
        ] {
            assert!(matches!(parse(s).unwrap(), Parsed::Skip(_)), "{s}");
        }
    }

    #[test]
    fn ip_normalization() {
        assert_eq!(normalize_ip("::ffff:1.2.3.4").as_deref(), Some("1.2.3.4"));
        assert_eq!(
            normalize_ip("::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6").as_deref(),
            Some("2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6")
        );
        assert_eq!(
            normalize_ip("[2001:db8::1]:443").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            normalize_ip("[2001:DB8::1]").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(normalize_ip("0.0.0.0"), None);
        assert_eq!(normalize_ip("not-an-ip"), None);
        assert_eq!(
            tenant_from_resource_id("/tenants/abc/providers/Microsoft.aadiam"),
            Some("abc")
        );
        assert_eq!(tenant_from_resource_id("https://x"), None);
    }
}
