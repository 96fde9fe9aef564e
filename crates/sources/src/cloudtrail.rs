//! AWS CloudTrail: management and data events as CloudTrail writes them.
//!
//! A record is one CloudTrail event object (one NDJSON line, as EventBridge, CloudWatch
//! Logs and most shippers forward them) or a `{"Records":[…]}` log file as CloudTrail
//! delivers it to S3, which yields one event per item, all sharing the file's raw
//! reference. A CloudTrail *digest* file (`digestStartTime`, `digestPublicKeyFingerprint`,
//! `logFiles`, no `eventName`) is an integrity manifest, not activity, and is skipped with a
//! note rather than rejected.
//!
//! What maps where:
//! - `ConsoleLogin` → Authentication logon (`login`), on `console.aws.amazon.com`, with the
//!   outcome from `responseElements.ConsoleLogin`, MFA from `additionalEventData.MFAUsed`
//!   and `password` for IAM and root users, `sso` for federated and role sessions.
//!   `CheckMfa` → Authentication "MFA Challenge".
//! - `AssumeRoleWithSAML` / `AssumeRoleWithWebIdentity` are sign-ins: there is no AWS session
//!   before them, so they are Authentication logons whose `actor.session.uid` is the access
//!   key id of the credentials they issue — the key every later call of that session carries.
//! - `AssumeRole`, `GetSessionToken`, `GetFederationToken`, `AssumeRoot` and
//!   `CreateAccessKey` are made from an existing session and mint a new credential: Entity
//!   Management create (`token_create`), `entity.type = api_token`, `entity.uid` = the new
//!   access key id, `user` = the identity the credential acts as. `DeleteAccessKey` and
//!   `UpdateAccessKey` to `Inactive` are `token_revoke`.
//! - IAM policy attach/put/detach/delete on users, roles and groups → User Access
//!   Management grant/revoke with the policy ARN or name as the privilege; group membership
//!   changes → assign/remove role with the group as the privilege.
//! - Login profiles, passwords, users and MFA devices → Account Change.
//! - S3 object reads, writes, copies and deletes → File Hosting.
//! - Every other call → API Activity by the verb its name starts with (`Create…` create,
//!   `Get…`/`List…`/`Describe…` read, `Update…`/`Put…` update, `Delete…` delete, else
//!   `readOnly`), with secrets (`GetSecretValue`, `BatchGetSecretValue`) as `secret` web
//!   resources; an access-denied error on such a call is the `access_denied` action.
//!
//! The actor: IAM and root users, Identity Center users, SAML users and role sessions
//! named with an email (or carrying a `sourceIdentity`, or an `AWSReservedSSO_` role) are
//! humans; AWS services, other accounts and role sessions without a human name (an EC2
//! instance id, an SDK session) are service accounts identified by the role's ARN. The
//! session key (`actor.session.uid`) is the access key id of the temporary credentials that
//! signed the call: an `ASIA…` key, or any key of a role, federated or console session
//! (`sessionContext.attributes.creationDate`), with that date as the session's start and
//! `mfaAuthenticated` as its MFA state. A long-term key (`AKIA…`) is no session: it is only
//! fingerprinted into `credential_uid`. `eventID` is the event id, as AWS documents it to be
//! unique; a log-file item without one gets the file's derived id plus its position.
//!
//! Vendor quirks handled: `HIDDEN_DUE_TO_SECURITY_REASONS` in place of a mistyped user
//! name or a session token (read as absent); `sourceIPAddress` holding a service name
//! (`ec2.amazonaws.com`, `AWS Internal`) rather than an address; `creationDate` in ISO 8601
//! basic form (`20131102T010628Z`); credential `expiration` as `Oct 8, 2024, 4:15:32 PM`;
//! user agents wrapped in brackets by S3 data events; `requestParameters` and
//! `responseElements` that are `null` or a JSON string; `mfaAuthenticated` as `"true"`;
//! a UTF-8 byte-order mark before the first record of a file.
//! Secrets are never read: the structs below have no field for `sessionToken`,
//! `secretAccessKey` or `keyMaterial`, so serde skips them unseen.

use crate::{ParseError, Parsed, RecordCtx, Source, derived_uid, lenient};
use midwatch_model::event::{
    Api, ApiService, AuthFactor, DstEndpoint, Entity, File, HttpRequest, ProductRef, SessionRef,
    SrcEndpoint, Url, User, WebResource,
};
use midwatch_model::hash::token_fingerprint;
use midwatch_model::timefmt::parse_rfc3339_ms;
use midwatch_model::{ClassUid, Event, IdentityKind, StatusId};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::marker::PhantomData;

/// The source name.
const NAME: &str = "cloudtrail";

/// Where the AWS console lives: the app a console sign-in is with.
const CONSOLE_HOST: &str = "console.aws.amazon.com";

/// What CloudTrail writes instead of a value it withholds.
const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Most resources listed on one API event; a bulk call must not make a huge event.
const MAX_RESOURCES: usize = 32;

/// The `cloudtrail` source.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudTrail;

// ---------------------------------------------------------------------------------------
// Lenient readers specific to CloudTrail.

/// A string through [`lenient::string`], with CloudTrail's withheld-value marker as absent.
fn s<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(lenient::string(d)?.filter(|v| v != HIDDEN))
}

/// A nested object read leniently: an object, or a string holding one, becomes `T`; null,
/// scalars and arrays become `None` rather than failing the record.
struct Obj<T>(Option<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Obj<T>, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Obj<T>, E> {
                // Some exports (Athena, Security Lake) store these objects as JSON text.
                let t = v.trim_start();
                Ok(Obj(if t.starts_with('{') {
                    serde_json::from_str(t).ok()
                } else {
                    None
                }))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Obj<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Obj(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Obj<T>, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An optional nested object, read with [`Obj`].
fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(Obj::<T>::deserialize(d)?.0)
}

/// An array of objects; items that are not objects are dropped, a non-array is empty.
fn objects<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    struct V<T>(PhantomData<T>);
    impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<Obj<T>>()? {
                out.extend(item.0);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Vec::new())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<T>, E> {
            Ok(Vec::new())
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
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// The items of a log file's `Records` array, kept as raw JSON so that each is parsed on
/// its own: a nested `Records` inside an item then cannot recurse, and one bad item does
/// not fail its neighbours. `None` when the field is not an array.
fn raw_records<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Box<RawValue>>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<Box<RawValue>>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of events")
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
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

// ---------------------------------------------------------------------------------------
// The wire shape: only the fields midwatch reads; serde skips the rest.

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default, deserialize_with = "s")]
    event_name: Option<String>,
    #[serde(default, deserialize_with = "s")]
    event_time: Option<String>,
    #[serde(default, deserialize_with = "s")]
    event_source: Option<String>,
    #[serde(default, rename = "eventID", deserialize_with = "s")]
    event_id: Option<String>,
    #[serde(default, rename = "sourceIPAddress", deserialize_with = "s")]
    source_ip_address: Option<String>,
    #[serde(default, deserialize_with = "s")]
    user_agent: Option<String>,
    #[serde(default, deserialize_with = "s")]
    error_code: Option<String>,
    #[serde(default, deserialize_with = "s")]
    error_message: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    read_only: Option<bool>,
    #[serde(default, deserialize_with = "object")]
    user_identity: Option<UserIdentity>,
    #[serde(default, deserialize_with = "object")]
    request_parameters: Option<RequestParameters>,
    #[serde(default, deserialize_with = "object")]
    response_elements: Option<ResponseElements>,
    #[serde(default, deserialize_with = "object")]
    additional_event_data: Option<AdditionalEventData>,
    #[serde(default, deserialize_with = "objects")]
    resources: Vec<Resource>,
    #[serde(default, rename = "Records", deserialize_with = "raw_records")]
    records: Option<Vec<Box<RawValue>>>,
    #[serde(default, deserialize_with = "s")]
    digest_start_time: Option<String>,
    #[serde(default, deserialize_with = "s")]
    digest_public_key_fingerprint: Option<String>,
    #[serde(default, rename = "digestS3Object", deserialize_with = "s")]
    digest_s3_object: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(default, rename = "type", deserialize_with = "s")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "s")]
    principal_id: Option<String>,
    #[serde(default, deserialize_with = "s")]
    arn: Option<String>,
    #[serde(default, deserialize_with = "s")]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "s")]
    access_key_id: Option<String>,
    #[serde(default, deserialize_with = "s")]
    user_name: Option<String>,
    #[serde(default, deserialize_with = "s")]
    invoked_by: Option<String>,
    #[serde(default, deserialize_with = "s")]
    identity_provider: Option<String>,
    #[serde(default, deserialize_with = "s")]
    credential_id: Option<String>,
    #[serde(default, deserialize_with = "object")]
    session_context: Option<SessionContext>,
    #[serde(default, deserialize_with = "object")]
    on_behalf_of: Option<OnBehalfOf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext {
    #[serde(default, deserialize_with = "object")]
    attributes: Option<SessionAttributes>,
    #[serde(default, deserialize_with = "object")]
    session_issuer: Option<SessionIssuer>,
    #[serde(default, deserialize_with = "s")]
    source_identity: Option<String>,
    #[serde(default, deserialize_with = "object")]
    web_id_federation_data: Option<WebIdFederationData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes {
    #[serde(default, deserialize_with = "lenient::bool")]
    mfa_authenticated: Option<bool>,
    #[serde(default, deserialize_with = "s")]
    creation_date: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer {
    #[serde(default, deserialize_with = "s")]
    arn: Option<String>,
    #[serde(default, deserialize_with = "s")]
    user_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebIdFederationData {
    #[serde(default, deserialize_with = "s")]
    federated_provider: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnBehalfOf {
    #[serde(default, deserialize_with = "s")]
    user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestParameters {
    #[serde(default, deserialize_with = "s")]
    role_arn: Option<String>,
    #[serde(default, deserialize_with = "s")]
    role_session_name: Option<String>,
    #[serde(default, deserialize_with = "s")]
    source_identity: Option<String>,
    #[serde(default, deserialize_with = "s")]
    principal_arn: Option<String>,
    #[serde(default, deserialize_with = "s")]
    user_name: Option<String>,
    #[serde(default, deserialize_with = "s")]
    role_name: Option<String>,
    #[serde(default, deserialize_with = "s")]
    group_name: Option<String>,
    #[serde(default, deserialize_with = "s")]
    policy_arn: Option<String>,
    #[serde(default, deserialize_with = "s")]
    policy_name: Option<String>,
    /// `GetFederationToken`'s federated user name.
    #[serde(default, deserialize_with = "s")]
    name: Option<String>,
    #[serde(default, deserialize_with = "s")]
    status: Option<String>,
    #[serde(default, deserialize_with = "s")]
    access_key_id: Option<String>,
    #[serde(default, deserialize_with = "s")]
    serial_number: Option<String>,
    #[serde(default, deserialize_with = "s")]
    bucket_name: Option<String>,
    #[serde(default, deserialize_with = "s")]
    key: Option<String>,
    #[serde(default, rename = "x-amz-copy-source", deserialize_with = "s")]
    copy_source: Option<String>,
    #[serde(default, deserialize_with = "s")]
    secret_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    secret_id_list: Vec<String>,
    #[serde(default, deserialize_with = "s")]
    key_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseElements {
    #[serde(default, rename = "ConsoleLogin", deserialize_with = "s")]
    console_login: Option<String>,
    #[serde(default, deserialize_with = "object")]
    credentials: Option<Credentials>,
    #[serde(default, deserialize_with = "object")]
    assumed_role_user: Option<AssumedRoleUser>,
    #[serde(default, deserialize_with = "object")]
    federated_user: Option<FederatedUser>,
    #[serde(default, deserialize_with = "object")]
    access_key: Option<AccessKey>,
    #[serde(default, deserialize_with = "s")]
    source_identity: Option<String>,
    #[serde(default, deserialize_with = "object")]
    instances_set: Option<InstancesSet>,
}

/// Issued temporary credentials: the key id and expiry only. The session token and the
/// secret key have no field here, so they are skipped unread.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    #[serde(default, deserialize_with = "s")]
    access_key_id: Option<String>,
    #[serde(default, deserialize_with = "s")]
    expiration: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssumedRoleUser {
    #[serde(default, deserialize_with = "s")]
    arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FederatedUser {
    #[serde(default, deserialize_with = "s")]
    arn: Option<String>,
}

/// A created access key: its id and owner. `secretAccessKey` has no field here.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessKey {
    #[serde(default, deserialize_with = "s")]
    access_key_id: Option<String>,
    #[serde(default, deserialize_with = "s")]
    user_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct InstancesSet {
    #[serde(default, deserialize_with = "objects")]
    items: Vec<Instance>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    #[serde(default, deserialize_with = "s")]
    instance_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AdditionalEventData {
    #[serde(default, rename = "MFAUsed", deserialize_with = "lenient::bool")]
    mfa_used: Option<bool>,
    #[serde(default, rename = "MFAIdentifier", deserialize_with = "s")]
    mfa_identifier: Option<String>,
    #[serde(default, rename = "LoginTo", deserialize_with = "s")]
    login_to: Option<String>,
    #[serde(default, rename = "SamlProviderArn", deserialize_with = "s")]
    saml_provider_arn: Option<String>,
    #[serde(
        default,
        rename = "bytesTransferredIn",
        deserialize_with = "lenient::u64"
    )]
    bytes_in: Option<u64>,
    #[serde(
        default,
        rename = "bytesTransferredOut",
        deserialize_with = "lenient::u64"
    )]
    bytes_out: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct Resource {
    #[serde(default, rename = "ARN", alias = "arn", deserialize_with = "s")]
    arn: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "s")]
    kind: Option<String>,
}

impl Record {
    /// A digest file: integrity metadata about log files, never an event.
    fn is_digest(&self) -> bool {
        self.event_name.is_none()
            && (self.digest_start_time.is_some()
                || self.digest_public_key_fingerprint.is_some()
                || self.digest_s3_object.is_some())
    }
}

// ---------------------------------------------------------------------------------------
// Parsing.

impl Source for CloudTrail {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse(&self, raw: &[u8], _ctx: RecordCtx) -> Result<Parsed, ParseError> {
        // Files saved by Windows tools start with a byte-order mark, which JSON forbids.
        let json = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
        let first = json.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(ParseError::record(
                "not a JSON object: expected a cloudtrail event or a `Records` log file",
            ));
        }
        let mut rec: Record = serde_json::from_slice(json).map_err(|e| json_error(None, &e))?;
        if let Some(items) = rec.records.take() {
            return parse_log_file(raw, &items);
        }
        if rec.is_digest() {
            return Ok(Parsed::Skip(
                "cloudtrail digest file, not an event stream".to_string(),
            ));
        }
        Ok(Parsed::Events(vec![to_event(rec, raw, None)?]))
    }
}

/// The events of a `{"Records":[…]}` log file. Items that are not events are dropped so
/// the rest survive; the file is rejected only when no item is an event.
fn parse_log_file(raw: &[u8], items: &[Box<RawValue>]) -> Result<Parsed, ParseError> {
    if items.is_empty() {
        return Ok(Parsed::Skip(
            "cloudtrail log file with an empty `Records` array".to_string(),
        ));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut first_error = None;
    for (i, item) in items.iter().enumerate() {
        let text = item.get();
        let parsed = if text.starts_with('{') {
            serde_json::from_str::<Record>(text).map_err(|e| json_error(Some(i), &e))
        } else {
            Err(ParseError::field(
                format!("Records.{i}"),
                "not a JSON object",
            ))
        };
        match parsed.and_then(|r| to_event(r, raw, Some(i))) {
            Ok(e) => events.push(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if events.is_empty() => Err(e),
        _ => Ok(Parsed::Events(events)),
    }
}

/// A serde error as a parse error, without serde's line/column suffix.
fn json_error(index: Option<usize>, err: &serde_json::Error) -> ParseError {
    let msg = err.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(&msg).to_string(),
        None => msg,
    };
    match index {
        Some(i) => ParseError::field(format!("Records.{i}"), msg),
        None => ParseError::record(msg),
    }
}

/// The dotted path of `field` in the record, inside `Records` when the event came from a
/// log file.
fn field_path(index: Option<usize>, field: &str) -> String {
    match index {
        Some(i) => format!("Records.{i}.{field}"),
        None => field.to_string(),
    }
}

/// User input quoted in an error, cut short so a hostile value cannot flood the log.
fn quote(v: &str) -> String {
    let mut out: String = v.chars().take(64).collect();
    if out.len() < v.len() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------
// Time.

/// CloudTrail times: RFC 3339 (`eventTime`), ISO 8601 basic (`creationDate` in older
/// events), or the `Oct 8, 2024, 4:15:32 PM` of credential expirations (UTC).
fn parse_time(v: &str) -> Option<i64> {
    lenient::parse_time_text(v)
        .or_else(|| parse_basic_iso(v))
        .or_else(|| parse_us_time(v))
}

/// `20131102T010628Z`.
fn parse_basic_iso(v: &str) -> Option<i64> {
    let t = v.trim();
    let b = t.as_bytes();
    let ok = b.len() == 16
        && b.get(8) == Some(&b'T')
        && matches!(b.get(15), Some(b'Z' | b'z'))
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit());
    if !ok {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        t.get(0..4)?,
        t.get(4..6)?,
        t.get(6..8)?,
        t.get(9..11)?,
        t.get(11..13)?,
        t.get(13..15)?
    );
    parse_rfc3339_ms(&text)
}

/// `Oct 8, 2024, 4:15:32 PM` or `Oct 2, 2019 11:12:29 PM`, taken as UTC.
fn parse_us_time(v: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = v.split([' ', ',']).filter(|p| !p.is_empty());
    let month = parts.next()?;
    let month = MONTHS
        .iter()
        .position(|m| month.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(m)))?
        + 1;
    let day: u32 = parts.next()?.parse().ok()?;
    let year: u32 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let hour: u32 = hms.next()?.parse().ok()?;
    let minute: u32 = hms.next()?.parse().ok()?;
    let second: u32 = hms.next().unwrap_or("0").parse().ok()?;
    let hour = match parts.next().map(str::to_ascii_uppercase).as_deref() {
        Some("AM") if hour == 12 => 0,
        Some("PM") if hour < 12 => hour + 12,
        _ => hour,
    };
    if day > 31 || hour > 23 || minute > 59 || second > 60 || year > 9999 {
        return None;
    }
    parse_rfc3339_ms(&format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"
    ))
}

// ---------------------------------------------------------------------------------------
// Classification.

/// How an event name maps to OCSF and the midwatch vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Console sign-in.
    ConsoleLogin,
    /// MFA step of a console sign-in.
    MfaCheck,
    /// Sign-in by SAML assertion or web identity token: opens a new AWS session.
    FederatedLogin,
    /// A temporary credential issued to an already signed-in caller.
    IssueSession,
    /// A long-term access key created.
    CreateAccessKey,
    /// An access key deleted or switched on or off.
    ChangeAccessKey,
    /// IAM policy attached or embedded (grant) or detached or deleted (revoke).
    Policy { grant: bool },
    /// IAM group membership added or removed.
    Group { add: bool },
    /// Account Change with this activity and action.
    Account(u32, Option<&'static str>),
    /// S3 object operation: File Hosting activity and action.
    S3Object(u32, Option<&'static str>),
    /// Secrets Manager secret value read.
    SecretRead,
    /// Any other API call.
    Api,
}

fn classify(name: &str, source: Option<&str>) -> Kind {
    let s3 = source.is_some_and(|s| s.starts_with("s3."));
    match name {
        "ConsoleLogin" => Kind::ConsoleLogin,
        "CheckMfa" => Kind::MfaCheck,
        "AssumeRoleWithSAML" | "AssumeRoleWithWebIdentity" => Kind::FederatedLogin,
        "AssumeRole" | "AssumeRoot" | "GetSessionToken" | "GetFederationToken" => {
            Kind::IssueSession
        }
        "CreateAccessKey" => Kind::CreateAccessKey,
        "DeleteAccessKey" | "UpdateAccessKey" => Kind::ChangeAccessKey,
        "AttachUserPolicy" | "PutUserPolicy" | "AttachRolePolicy" | "PutRolePolicy"
        | "AttachGroupPolicy" | "PutGroupPolicy" => Kind::Policy { grant: true },
        "DetachUserPolicy" | "DeleteUserPolicy" | "DetachRolePolicy" | "DeleteRolePolicy"
        | "DetachGroupPolicy" | "DeleteGroupPolicy" => Kind::Policy { grant: false },
        "AddUserToGroup" => Kind::Group { add: true },
        "RemoveUserFromGroup" => Kind::Group { add: false },
        "CreateUser" => Kind::Account(1, Some("account_create")),
        "DeleteUser" => Kind::Account(6, None),
        "ChangePassword" => Kind::Account(3, Some("password_change")),
        // An administrator setting someone's console password: a reset, not their change.
        "CreateLoginProfile" | "UpdateLoginProfile" => Kind::Account(4, Some("password_change")),
        "EnableMFADevice" => Kind::Account(10, Some("mfa_enroll")),
        "DeactivateMFADevice" | "DeleteVirtualMFADevice" => Kind::Account(11, Some("mfa_remove")),
        "GetSecretValue" | "BatchGetSecretValue" => Kind::SecretRead,
        "GetObject" if s3 => Kind::S3Object(2, Some("download")),
        "PutObject" | "CompleteMultipartUpload" if s3 => Kind::S3Object(1, Some("upload")),
        "CopyObject" if s3 => Kind::S3Object(6, None),
        "DeleteObject" | "DeleteObjects" if s3 => Kind::S3Object(4, None),
        _ => Kind::Api,
    }
}

/// API Activity id from the verb an AWS operation name starts with.
fn verb_activity(name: &str, read_only: Option<bool>) -> u32 {
    #[rustfmt::skip]
    const CREATE: &[&str] = &[
        "Create", "Run", "Launch", "Allocate", "Import", "Register", "Issue", "Generate", "Copy",
        "Request", "Upload", "Provision",
    ];
    const READ: &[&str] = &[
        "Get", "List", "Describe", "Head", "Lookup", "Search", "Select", "Scan", "Query",
        "Download", "View", "Filter", "Preview", "Retrieve", "Read", "Fetch",
    ];
    #[rustfmt::skip]
    const UPDATE: &[&str] = &[
        "Update", "Modify", "Put", "Set", "Change", "Enable", "Disable", "Attach", "Detach",
        "Associate", "Disassociate", "Replace", "Reset", "Restore", "Rotate", "Tag", "Untag",
        "Add", "Apply", "Edit", "Start", "Stop", "Reboot", "Authorize", "Accept", "Upgrade",
        "Resize", "Move", "Activate", "Deactivate",
    ];
    #[rustfmt::skip]
    const DELETE: &[&str] = &[
        "Delete", "Remove", "Terminate", "Deregister", "Revoke", "Cancel", "Purge", "Release",
        "Destroy",
    ];
    // `BatchGetSecretValue` reads, `BatchDeleteImage` deletes: the verb follows `Batch`.
    let op = name
        .strip_prefix("Batch")
        .filter(|r| r.starts_with(|c: char| c.is_ascii_uppercase()))
        .unwrap_or(name);
    let starts = |verbs: &[&str]| {
        verbs.iter().any(|v| {
            op.strip_prefix(v).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(|c: char| !c.is_ascii_lowercase())
            })
        })
    };
    if starts(CREATE) {
        1
    } else if starts(READ) {
        2
    } else if starts(UPDATE) {
        3
    } else if starts(DELETE) {
        4
    } else if read_only == Some(true) {
        2
    } else {
        99
    }
}

fn is_access_denied(code: &str) -> bool {
    code.contains("AccessDenied") || code.contains("Unauthorized") || code.contains("Forbidden")
}

// ---------------------------------------------------------------------------------------
// Identities.

fn is_email(v: &str) -> bool {
    match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The last `/` segment of an ARN (`…:user/path/Alice` → `Alice`).
fn arn_tail(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn user(uid: String, kind: IdentityKind, name: Option<String>) -> User {
    let mut u = User::new(uid, kind);
    if let Some(email) = u.uid.as_deref().filter(|v| is_email(v)) {
        u.email_addr = Some(email.to_string());
    }
    u.name = name.filter(|n| Some(n) != u.uid.as_ref());
    u
}

/// A human when the name says so (an email), else a service account.
fn named(uid: String) -> User {
    let kind = if is_email(&uid) {
        IdentityKind::Human
    } else {
        IdentityKind::ServiceAccount
    };
    user(uid, kind, None)
}

/// The parts of an assumed-role session, from `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
struct RoleSession<'a> {
    /// The full session ARN, when known.
    arn: Option<&'a str>,
    /// The role ARN (`arn:aws:iam::<acct>:role/<role>`).
    role_arn: Option<String>,
    /// The role's name.
    role_name: Option<&'a str>,
    /// The session name the caller chose.
    session_name: Option<&'a str>,
    /// The source identity set on the session.
    source_identity: Option<&'a str>,
}

impl<'a> RoleSession<'a> {
    fn from_arn(arn: Option<&'a str>) -> RoleSession<'a> {
        let mut out = RoleSession {
            arn,
            role_arn: None,
            role_name: None,
            session_name: None,
            source_identity: None,
        };
        if let Some((prefix, rest)) = arn.and_then(|a| a.split_once(":assumed-role/")) {
            let (role, session) = match rest.rsplit_once('/') {
                Some((role, session)) => (Some(role), Some(session)),
                None => (Some(rest), None),
            };
            out.role_name = role.map(arn_tail);
            out.session_name = session.filter(|v| !v.is_empty());
            // `arn:aws:sts::123:` → `arn:aws:iam::123:role/<role>`
            out.role_arn =
                role.map(|r| format!("{}:role/{r}", prefix.replacen(":sts:", ":iam:", 1)));
        }
        out
    }

    /// The acting identity: the person behind the session when it names one, else the
    /// role itself as a service account. `interactive` marks a console sign-in, which only
    /// people do.
    fn user(&self, interactive: bool) -> Option<User> {
        let session = self.session_name.map(str::to_string);
        if let Some(si) = self.source_identity {
            return Some(user(si.to_string(), IdentityKind::Human, session));
        }
        if let Some(name) = self.session_name {
            let sso = self
                .role_name
                .is_some_and(|r| r.starts_with("AWSReservedSSO_"));
            if is_email(name) || sso {
                return Some(user(name.to_string(), IdentityKind::Human, None));
            }
            if interactive {
                let uid = self.arn.map_or_else(|| name.to_string(), str::to_string);
                return Some(user(uid, IdentityKind::Human, session));
            }
        }
        let uid = self
            .role_arn
            .clone()
            .or_else(|| self.arn.map(str::to_string))?;
        Some(user(uid, IdentityKind::ServiceAccount, session))
    }
}

/// The identity that made the call.
fn actor_user(ui: &UserIdentity, interactive: bool) -> Option<User> {
    let by_name = || {
        ui.user_name
            .clone()
            .or_else(|| ui.arn.as_deref().map(|a| arn_tail(a).to_string()))
    };
    match ui.kind.as_deref().unwrap_or("") {
        "AWSService" => {
            let uid = ui.invoked_by.clone().or_else(|| ui.principal_id.clone())?;
            Some(user(uid, IdentityKind::ServiceAccount, None))
        }
        "Root" => {
            let uid = ui.arn.clone().or_else(|| {
                ui.account_id
                    .as_deref()
                    .map(|a| format!("arn:aws:iam::{a}:root"))
            })?;
            // For the root user, `userName` is the account alias.
            Some(user(uid, IdentityKind::Human, ui.user_name.clone()))
        }
        "IAMUser" => {
            let uid = by_name().or_else(|| ui.principal_id.clone())?;
            Some(user(uid, IdentityKind::Human, None))
        }
        "AssumedRole" => {
            let mut rs = RoleSession::from_arn(ui.arn.as_deref());
            let sc = ui.session_context.as_ref();
            if rs.session_name.is_none() {
                rs.session_name = ui
                    .principal_id
                    .as_deref()
                    .and_then(|p| p.split_once(':'))
                    .map(|(_, name)| name);
            }
            if let Some(issuer) = sc.and_then(|c| c.session_issuer.as_ref()) {
                if let Some(arn) = &issuer.arn {
                    rs.role_arn = Some(arn.clone());
                }
                if rs.role_name.is_none() {
                    rs.role_name = issuer.user_name.as_deref();
                }
            }
            rs.source_identity = sc.and_then(|c| c.source_identity.as_deref());
            rs.user(interactive)
                .or_else(|| ui.principal_id.clone().map(named))
        }
        "FederatedUser" => {
            // `arn:aws:sts::<acct>:federated-user/<name>`, principalId `<acct>:<name>`.
            let uid = ui
                .arn
                .as_deref()
                .map(|a| arn_tail(a).to_string())
                .or_else(|| {
                    ui.principal_id
                        .as_deref()
                        .map(|p| p.rsplit(':').next().unwrap_or(p).to_string())
                })?;
            Some(user(uid, IdentityKind::Human, None))
        }
        "AWSAccount" => {
            let uid = ui.principal_id.clone().or_else(|| ui.account_id.clone())?;
            Some(user(uid, IdentityKind::ServiceAccount, None))
        }
        "SAMLUser" | "IdentityCenterUser" => {
            let uid = ui.user_name.clone().or_else(|| {
                ui.on_behalf_of
                    .as_ref()
                    .and_then(|o| o.user_id.clone())
                    .or_else(|| ui.principal_id.clone())
            })?;
            Some(user(uid, IdentityKind::Human, None))
        }
        // Workload federation (CI runners, Kubernetes) unless the subject is a person.
        "WebIdentityUser" => ui
            .user_name
            .clone()
            .or_else(|| ui.principal_id.clone())
            .map(named),
        _ => {
            let uid = by_name().or_else(|| ui.principal_id.clone())?;
            Some(user(uid, IdentityKind::Human, None))
        }
    }
}

/// The session the call was made in: keyed by the temporary access key id, with the
/// session's start, MFA state and issuer. A long-term key is only fingerprinted.
fn caller_session(ui: &UserIdentity) -> Option<SessionRef> {
    let sc = ui.session_context.as_ref();
    let attrs = sc.and_then(|c| c.attributes.as_ref());
    let key = ui.access_key_id.as_deref();
    let temporary = key.is_some_and(|k| k.starts_with("ASIA"))
        || matches!(ui.kind.as_deref(), Some("AssumedRole" | "FederatedUser"))
        || attrs.is_some_and(|a| a.creation_date.is_some());
    let credential_uid = key.or(ui.credential_id.as_deref()).map(token_fingerprint);
    let uid = key.filter(|_| temporary).map(str::to_string);
    if uid.is_none() && credential_uid.is_none() {
        return None;
    }
    Some(SessionRef {
        uid,
        credential_uid,
        created_time: attrs
            .and_then(|a| a.creation_date.as_deref())
            .and_then(parse_time),
        expiration_time: None,
        is_mfa: attrs.and_then(|a| a.mfa_authenticated),
        issuer: sc
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|i| i.arn.clone())
            .or_else(|| {
                sc.and_then(|c| c.web_id_federation_data.as_ref())
                    .and_then(|w| w.federated_provider.clone())
            })
            .or_else(|| ui.identity_provider.clone()),
    })
}

/// The identity a newly issued credential acts as.
fn issued_identity(
    name: &str,
    req: Option<&RequestParameters>,
    resp: Option<&ResponseElements>,
) -> Option<User> {
    if name == "GetFederationToken" {
        let uid = req.and_then(|p| p.name.clone()).or_else(|| {
            resp.and_then(|x| x.federated_user.as_ref())
                .and_then(|f| f.arn.as_deref())
                .map(|a| arn_tail(a).to_string())
        })?;
        return Some(user(uid, IdentityKind::Human, None));
    }
    let arn = resp
        .and_then(|x| x.assumed_role_user.as_ref())
        .and_then(|a| a.arn.as_deref());
    let mut rs = RoleSession::from_arn(arn);
    if let Some(role) = req.and_then(|p| p.role_arn.as_deref()) {
        rs.role_arn = Some(role.to_string());
        if rs.role_name.is_none() {
            rs.role_name = Some(arn_tail(role));
        }
    }
    if rs.session_name.is_none() {
        rs.session_name = req.and_then(|p| p.role_session_name.as_deref());
    }
    rs.source_identity = req
        .and_then(|p| p.source_identity.as_deref())
        .or_else(|| resp.and_then(|x| x.source_identity.as_deref()));
    rs.user(false)
}

// ---------------------------------------------------------------------------------------
// Resources.

fn s3_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

/// A secret from a `secretId`: an ARN (whose name loses the six-character suffix Secrets
/// Manager appends) or a bare name.
fn secret_resource(id: &str) -> WebResource {
    let (uid, name) = match id.split_once(":secret:") {
        Some((_, name)) if id.starts_with("arn:") => {
            let name = match name.rsplit_once('-') {
                Some((base, suffix))
                    if suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) =>
                {
                    base
                }
                _ => name,
            };
            (Some(id.to_string()), name.to_string())
        }
        _ => (None, id.to_string()),
    };
    WebResource {
        type_name: Some("secret".to_string()),
        name: Some(name),
        uid,
        url_string: None,
    }
}

fn resource(kind: &str, uid: Option<String>, name: Option<String>) -> WebResource {
    WebResource {
        type_name: Some(kind.to_string()),
        name,
        uid,
        url_string: None,
    }
}

/// What a generic API call acted on: CloudTrail's own `resources` list, else what the
/// request names.
fn api_resources(r: &Record, req: Option<&RequestParameters>) -> Vec<WebResource> {
    let mut out: Vec<WebResource> = r
        .resources
        .iter()
        .filter(|x| x.arn.is_some())
        .take(MAX_RESOURCES)
        .map(|x| WebResource {
            type_name: x.kind.clone(),
            name: x.arn.as_deref().map(|a| arn_tail(a).to_string()),
            uid: x.arn.clone(),
            url_string: None,
        })
        .collect();
    if !out.is_empty() {
        return out;
    }
    if let Some(req) = req {
        if let Some(bucket) = &req.bucket_name {
            out.push(resource(
                "AWS::S3::Bucket",
                Some(s3_arn(bucket, None)),
                Some(bucket.clone()),
            ));
        }
        if let Some(key) = &req.key_name {
            out.push(resource("AWS::EC2::KeyPair", None, Some(key.clone())));
        }
    }
    if let Some(set) = r
        .response_elements
        .as_ref()
        .and_then(|x| x.instances_set.as_ref())
    {
        out.extend(
            set.items
                .iter()
                .filter_map(|i| i.instance_id.clone())
                .take(MAX_RESOURCES)
                .map(|id| resource("AWS::EC2::Instance", Some(id), None)),
        );
    }
    out
}

// ---------------------------------------------------------------------------------------
// The event.

/// The OCSF class, activity and midwatch action of an event.
fn ocsf_kind(kind: Kind, name: &str, r: &Record) -> (ClassUid, u32, Option<&'static str>) {
    let denied = r.error_code.as_deref().is_some_and(is_access_denied);
    let api_action = Some(if denied { "access_denied" } else { "api_call" });
    match kind {
        Kind::ConsoleLogin | Kind::FederatedLogin => (ClassUid::Authentication, 1, Some("login")),
        Kind::MfaCheck => (ClassUid::Authentication, 99, Some("mfa_challenge")),
        Kind::IssueSession | Kind::CreateAccessKey => {
            (ClassUid::EntityManagement, 1, Some("token_create"))
        }
        Kind::ChangeAccessKey => {
            let status = r
                .request_parameters
                .as_ref()
                .and_then(|p| p.status.as_deref());
            match (name, status) {
                ("DeleteAccessKey", _) => (ClassUid::EntityManagement, 4, Some("token_revoke")),
                (_, Some(s)) if s.eq_ignore_ascii_case("Inactive") => {
                    (ClassUid::EntityManagement, 9, Some("token_revoke"))
                }
                (_, Some(s)) if s.eq_ignore_ascii_case("Active") => {
                    (ClassUid::EntityManagement, 8, None)
                }
                _ => (ClassUid::EntityManagement, 3, None),
            }
        }
        Kind::Policy { grant: true } => {
            (ClassUid::UserAccessManagement, 1, Some("privilege_grant"))
        }
        Kind::Policy { grant: false } => {
            (ClassUid::UserAccessManagement, 2, Some("privilege_revoke"))
        }
        Kind::Group { add: true } => (ClassUid::UserAccessManagement, 3, Some("role_assign")),
        Kind::Group { add: false } => (ClassUid::UserAccessManagement, 4, Some("role_remove")),
        Kind::Account(activity, action) => (ClassUid::AccountChange, activity, action),
        Kind::S3Object(activity, action) => (ClassUid::FileHostingActivity, activity, action),
        Kind::SecretRead => (ClassUid::ApiActivity, 2, api_action),
        Kind::Api => (
            ClassUid::ApiActivity,
            verb_activity(name, r.read_only),
            api_action,
        ),
    }
}

fn to_event(r: Record, raw: &[u8], index: Option<usize>) -> Result<Event, ParseError> {
    let name = r.event_name.as_deref().ok_or_else(|| {
        ParseError::field(
            field_path(index, "eventName"),
            "missing: a cloudtrail event names the call it records",
        )
    })?;
    let time_text = r
        .event_time
        .as_deref()
        .ok_or_else(|| ParseError::field(field_path(index, "eventTime"), "missing"))?;
    let time = parse_time(time_text).ok_or_else(|| {
        ParseError::field(
            field_path(index, "eventTime"),
            format!("`{}` is not a time", quote(time_text)),
        )
    })?;
    let uid = match (&r.event_id, index) {
        (Some(id), _) => id.clone(),
        (None, None) => derived_uid(NAME, raw),
        // Every item of a log file shares the raw bytes: the position tells them apart.
        (None, Some(i)) => format!("{}:{i}", derived_uid(NAME, raw)),
    };

    let kind = classify(name, r.event_source.as_deref());
    let (class, activity, action) = ocsf_kind(kind, name, &r);
    let mut e = Event::new(class, activity, time, uid);
    if class == ClassUid::Authentication && activity == 99 {
        e.activity_name = Some("MFA Challenge".into());
    }
    e.metadata.product = ProductRef {
        name: "CloudTrail".into(),
        vendor_name: "AWS".into(),
    };
    e.metadata.original_event_uid = r.event_id.clone();
    e.metadata.event_code = Some(name.to_string());
    e.midwatch.action = action.map(Into::into);

    // Outcome: CloudTrail records an error code or message only when the call failed.
    let console_result = r
        .response_elements
        .as_ref()
        .and_then(|x| x.console_login.as_deref());
    let failed = match console_result {
        Some(v) if v.eq_ignore_ascii_case("Success") => false,
        Some(v) if v.eq_ignore_ascii_case("Failure") => true,
        _ => r.error_code.is_some() || r.error_message.is_some(),
    };
    e.set_status(if failed {
        StatusId::Failure
    } else {
        StatusId::Success
    });
    e.status_detail = match (&r.error_code, &r.error_message) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(v), None) | (None, Some(v)) => Some(v.clone()),
        (None, None) => None,
    };

    let interactive = matches!(kind, Kind::ConsoleLogin | Kind::MfaCheck);
    if let Some(ui) = &r.user_identity {
        e.actor.user = actor_user(ui, interactive).map(Box::new);
        e.actor.session = caller_session(ui).map(Box::new);
        // Identity-enhanced role sessions act for an Identity Center user.
        e.actor.on_behalf_of = ui
            .on_behalf_of
            .as_ref()
            .and_then(|o| o.user_id.clone())
            .filter(|_| ui.kind.as_deref() != Some("IdentityCenterUser"))
            .map(|id| Box::new(User::new(id, IdentityKind::Human)));
        e.actor.app_name = ui.invoked_by.clone();
    }
    fill_client(&mut e, &r, interactive);

    let req = r.request_parameters.as_ref();
    let resp = r.response_elements.as_ref();
    let extra = r.additional_event_data.as_ref();
    let ui_kind = r.user_identity.as_ref().and_then(|u| u.kind.as_deref());
    match kind {
        Kind::ConsoleLogin | Kind::MfaCheck => fill_console_login(&mut e, ui_kind, extra),
        Kind::FederatedLogin => {
            let provider = r
                .user_identity
                .as_ref()
                .and_then(|u| u.identity_provider.as_deref());
            fill_federated_login(&mut e, name, provider, req, resp);
        }
        Kind::IssueSession => fill_issued_session(&mut e, name, req, resp),
        Kind::CreateAccessKey | Kind::ChangeAccessKey => fill_access_key(&mut e, req, resp),
        Kind::Policy { .. } | Kind::Group { .. } => fill_privileges(&mut e, kind, req),
        Kind::Account(..) => fill_account(&mut e, req),
        Kind::S3Object(..) => fill_s3_object(&mut e, req, extra),
        Kind::SecretRead => fill_secrets(&mut e, name, req),
        Kind::Api => e.web_resources = api_resources(&r, req),
    }
    Ok(e)
}

/// Source address, user agent, the app (console or the service's endpoint) and the API.
fn fill_client(e: &mut Event, r: &Record, interactive: bool) {
    if let Some(src) = &r.source_ip_address {
        if src.parse::<std::net::IpAddr>().is_ok() {
            e.src_endpoint = Some(Box::new(SrcEndpoint {
                ip: Some(src.clone()),
                ..SrcEndpoint::default()
            }));
        } else if e.actor.app_name.is_none() {
            // A service name (`ec2.amazonaws.com`, `AWS Internal`): the caller is AWS itself.
            e.actor.app_name = Some(src.clone());
        }
    }
    if let Some(ua) = &r.user_agent {
        // S3 data events wrap the agent in brackets.
        let ua = ua
            .strip_prefix('[')
            .and_then(|u| u.strip_suffix(']'))
            .unwrap_or(ua);
        e.http_request = Some(Box::new(HttpRequest {
            user_agent: Some(ua.to_string()),
            ..HttpRequest::default()
        }));
    }
    let console = interactive || r.event_source.as_deref() == Some("signin.amazonaws.com");
    let host = if console {
        Some(CONSOLE_HOST.to_string())
    } else {
        r.event_source.as_deref().map(str::to_ascii_lowercase)
    };
    e.dst_endpoint = Some(Box::new(DstEndpoint {
        hostname: host,
        svc_name: Some("AWS".to_string()),
    }));
    e.api = Some(Box::new(Api {
        operation: r.event_name.clone(),
        service: r.event_source.clone().map(|name| ApiService {
            name: Some(name.into()),
        }),
    }));
}

/// The factor an MFA device ARN names: FIDO keys live under `u2f/`, the rest are codes.
fn mfa_factor(device_arn: &str) -> AuthFactor {
    let factor = if device_arn.contains(":u2f/") {
        "WebAuthn"
    } else {
        "TOTP"
    };
    AuthFactor {
        factor_type: Some(factor.into()),
    }
}

/// Console sign-in: who signed in, how, with MFA or not, and where to.
fn fill_console_login(e: &mut Event, ui_kind: Option<&str>, extra: Option<&AdditionalEventData>) {
    e.user = e.actor.user.clone();
    let federated = extra.is_some_and(|x| x.saml_provider_arn.is_some())
        || matches!(
            ui_kind,
            Some(
                "AssumedRole"
                    | "FederatedUser"
                    | "SAMLUser"
                    | "WebIdentityUser"
                    | "IdentityCenterUser"
            )
        );
    e.auth_protocol = if federated {
        Some("sso".into())
    } else if matches!(ui_kind, Some("IAMUser" | "Root")) {
        Some("password".into())
    } else {
        None
    };
    e.auth_protocol_id = e.auth_protocol.as_ref().map(|_| 99);
    e.is_mfa = extra.and_then(|x| x.mfa_used);
    if let Some(id) = extra.and_then(|x| x.mfa_identifier.as_deref()) {
        e.auth_factors.push(mfa_factor(id));
    }
    if let Some(url) = extra
        .and_then(|x| x.login_to.as_deref())
        .and_then(clean_url)
    {
        e.http_request.get_or_insert_with(Box::default).url = Some(url);
    }
}

/// A SAML or web-identity sign-in: the session it opens is keyed by the access key id of
/// the credentials it returns, which every later call of that session carries.
fn fill_federated_login(
    e: &mut Event,
    name: &str,
    provider: Option<&str>,
    req: Option<&RequestParameters>,
    resp: Option<&ResponseElements>,
) {
    let saml = name == "AssumeRoleWithSAML";
    e.auth_protocol = Some(if saml { "sso" } else { "token" }.into());
    e.auth_protocol_id = Some(99);
    let creds = resp.and_then(|x| x.credentials.as_ref());
    let key = creds.and_then(|c| c.access_key_id.clone());
    if key.is_some() {
        e.actor.session = Some(Box::new(SessionRef {
            credential_uid: key.as_deref().map(token_fingerprint),
            uid: key.clone(),
            created_time: Some(e.time),
            expiration_time: creds
                .and_then(|c| c.expiration.as_deref())
                .and_then(parse_time),
            is_mfa: None,
            issuer: provider
                .map(str::to_string)
                .or_else(|| req.and_then(|p| p.principal_arn.clone())),
        }));
    }
    fill_issued_session(e, name, req, resp);
}

/// A temporary credential issued to a signed-in caller: the new key id as the entity, the
/// identity it acts as as the user.
fn fill_issued_session(
    e: &mut Event,
    name: &str,
    req: Option<&RequestParameters>,
    resp: Option<&ResponseElements>,
) {
    e.user = match name {
        "GetSessionToken" | "AssumeRoot" => e.actor.user.clone(),
        _ => issued_identity(name, req, resp).map(Box::new),
    };
    e.entity = Some(Box::new(Entity {
        type_name: Some("api_token".into()),
        name: resp.and_then(|x| {
            x.assumed_role_user
                .as_ref()
                .and_then(|a| a.arn.clone())
                .or_else(|| x.federated_user.as_ref().and_then(|f| f.arn.clone()))
        }),
        uid: resp
            .and_then(|x| x.credentials.as_ref())
            .and_then(|c| c.access_key_id.clone()),
        scopes: Vec::new(),
    }));
}

/// A long-term access key created, deleted or switched: its id and its owner.
fn fill_access_key(
    e: &mut Event,
    req: Option<&RequestParameters>,
    resp: Option<&ResponseElements>,
) {
    let key = resp.and_then(|x| x.access_key.as_ref());
    let owner = key
        .and_then(|k| k.user_name.clone())
        .or_else(|| req.and_then(|p| p.user_name.clone()));
    e.user = match owner {
        Some(o) => Some(Box::new(user(o, IdentityKind::Human, None))),
        // Without a user name the caller acted on their own keys.
        None => e.actor.user.clone(),
    };
    e.entity = Some(Box::new(Entity {
        type_name: Some("api_token".into()),
        name: None,
        uid: key
            .and_then(|k| k.access_key_id.clone())
            .or_else(|| req.and_then(|p| p.access_key_id.clone())),
        scopes: Vec::new(),
    }));
}

/// Policy grants and revokes, group joins and leaves: the policy or group as the
/// privilege, the user or role it applies to as the target.
fn fill_privileges(e: &mut Event, kind: Kind, req: Option<&RequestParameters>) {
    let Some(p) = req else {
        return;
    };
    let privilege = match kind {
        Kind::Group { .. } => p.group_name.clone(),
        _ => p.policy_arn.clone().or_else(|| p.policy_name.clone()),
    };
    e.privileges.extend(privilege.clone());
    let target = if let Some(u) = &p.user_name {
        e.user = Some(Box::new(user(u.clone(), IdentityKind::Human, None)));
        Some(format!("user {u}"))
    } else if let Some(role) = &p.role_name {
        e.user = Some(Box::new(User::new(
            role.clone(),
            IdentityKind::ServiceAccount,
        )));
        Some(format!("role {role}"))
    } else {
        p.group_name.as_ref().map(|g| format!("group {g}"))
    };
    if let (Some(what), Some(target)) = (privilege, target) {
        e.message = Some(match kind {
            Kind::Policy { grant: true } => format!("{what} attached to {target}"),
            Kind::Policy { grant: false } => format!("{what} removed from {target}"),
            Kind::Group { add: true } => format!("{target} added to group {what}"),
            _ => format!("{target} removed from group {what}"),
        });
    }
}

/// Users, passwords and MFA devices: the user changed, else the caller.
fn fill_account(e: &mut Event, req: Option<&RequestParameters>) {
    let target = req
        .and_then(|p| p.user_name.clone())
        .map(|u| Box::new(user(u, IdentityKind::Human, None)));
    e.user = target.or_else(|| e.actor.user.clone());
    if let Some(serial) = req.and_then(|p| p.serial_number.as_deref()) {
        e.auth_factors.push(mfa_factor(serial));
    }
}

/// An S3 object read, written, copied or deleted, and how many bytes moved.
fn fill_s3_object(
    e: &mut Event,
    req: Option<&RequestParameters>,
    extra: Option<&AdditionalEventData>,
) {
    let Some(p) = req else {
        return;
    };
    let (Some(bucket), Some(key)) = (&p.bucket_name, &p.key) else {
        return;
    };
    e.file = Some(Box::new(File {
        name: Some(arn_tail(key).to_string()),
        size: match e.activity_id {
            2 => extra.and_then(|x| x.bytes_out),
            1 => extra.and_then(|x| x.bytes_in),
            _ => None,
        },
        uid: Some(s3_arn(bucket, Some(key))),
        mime_type: None,
    }));
    if let Some(src) = &p.copy_source {
        let src = src.split('?').next().unwrap_or(src);
        e.message = Some(format!("copied s3://{src} to s3://{bucket}/{key}"));
    }
}

/// The secrets whose values were read.
fn fill_secrets(e: &mut Event, name: &str, req: Option<&RequestParameters>) {
    let Some(p) = req else {
        return;
    };
    e.web_resources
        .extend(p.secret_id.as_deref().map(secret_resource));
    e.web_resources.extend(
        p.secret_id_list
            .iter()
            .take(MAX_RESOURCES)
            .map(|id| secret_resource(id)),
    );
    if name == "BatchGetSecretValue" && !p.secret_id_list.is_empty() {
        e.midwatch.count = u64::try_from(p.secret_id_list.len()).ok();
    }
}

/// A URL without its query string or fragment; `None` when it is not http(s).
fn clean_url(raw: &str) -> Option<Url> {
    let no_frag = raw.split('#').next().unwrap_or(raw);
    let no_query = no_frag.split('?').next().unwrap_or(no_frag);
    let (scheme, rest) = if let Some(r) = no_query.strip_prefix("https://") {
        ("https", r)
    } else {
        ("http", no_query.strip_prefix("http://")?)
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    Some(Url {
        url_string: Some(format!("{scheme}://{host}{path}")),
        hostname: Some(host),
        path: Some(path.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Parsed, ParseError> {
        CloudTrail.parse(s.as_bytes(), RecordCtx::default())
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

    fn actor(e: &Event) -> &User {
        e.actor.user.as_deref().unwrap()
    }

    const CONSOLE_OK: &str = r#"{"eventVersion":"1.05","userIdentity":{"type":"IAMUser","principalId":"AIDA1","arn":"arn:aws:iam::111122223333:user/JohnDoe","accountId":"111122223333","userName":"JohnDoe"},"eventTime":"2014-07-16T15:49:27Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","sourceIPAddress":"89.160.20.156","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/s3/?state=hashArgs&isauthcode=true","MFAUsed":"Yes","MFAIdentifier":"arn:aws:iam::111122223333:mfa/JohnDoe"},"eventID":"e-1"}"#;

    #[test]
    fn console_login_success() {
        let e = one(CONSOLE_OK);
        assert_eq!(e.class_uid, ClassUid::Authentication);
        assert_eq!(e.type_uid, 300_201);
        assert_eq!(e.status_id, StatusId::Success);
        assert_eq!(e.action(), Some("login"));
        assert_eq!(e.metadata.event_code.as_deref(), Some("ConsoleLogin"));
        assert_eq!(e.uid(), "e-1");
        assert_eq!(e.actor_uid(), Some("JohnDoe"));
        assert_eq!(actor(&e).kind(), Some(IdentityKind::Human));
        assert_eq!(e.user.as_ref().unwrap().uid.as_deref(), Some("JohnDoe"));
        assert_eq!(e.app_domain(), Some("console.aws.amazon.com"));
        assert_eq!(e.auth_protocol.as_deref(), Some("password"));
        assert_eq!(e.auth_protocol_id, Some(99));
        assert_eq!(e.is_mfa, Some(true));
        assert_eq!(e.auth_factors[0].factor_type.as_deref(), Some("TOTP"));
        assert_eq!(e.src_ip(), Some("89.160.20.156"));
        let url = e.http_request.as_ref().unwrap().url.clone().unwrap();
        assert_eq!(
            url.url_string.as_deref(),
            Some("https://console.aws.amazon.com/s3/")
        );
        assert!(e.session_ref().is_none());
    }

    #[test]
    fn console_login_failure_with_hidden_user_name() {
        let e = one(
            r#"{"userIdentity":{"type":"IAMUser","accountId":"111122223333","accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"},"eventTime":"2014-07-08T17:35:27Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","sourceIPAddress":"89.160.20.156","errorMessage":"No username found in supplied account","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"},"eventID":"e-2"}"#,
        );
        assert_eq!(e.status_id, StatusId::Failure);
        assert_eq!(
            e.status_detail.as_deref(),
            Some("No username found in supplied account")
        );
        assert_eq!(e.actor_uid(), None, "the withheld name is no identity");
        assert_eq!(e.is_mfa, Some(false));
    }

    #[test]
    fn console_login_of_a_role_session_is_sso_and_human() {
        let e = one(
            r#"{"userIdentity":{"type":"AssumedRole","principalId":"AROA1:AssumedRoleSessionName","arn":"arn:aws:sts::123456789012:assumed-role/RoleToBeAssumed/MySessionName","accountId":"123456789012","sessionContext":{"attributes":{"mfaAuthenticated":"false","creationDate":"20131102T010628Z"},"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::123456789012:role/RoleToBeAssumed","userName":"RoleToBeAssumed"}}},"eventTime":"2014-07-08T17:35:27Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"},"eventID":"e-3"}"#,
        );
        assert_eq!(e.auth_protocol.as_deref(), Some("sso"));
        assert_eq!(actor(&e).kind(), Some(IdentityKind::Human));
        assert_eq!(
            e.actor_uid(),
            Some("arn:aws:sts::123456789012:assumed-role/RoleToBeAssumed/MySessionName")
        );
        assert_eq!(e.status_id, StatusId::Failure);
    }

    const ASSUME_ROLE: &str = r#"{"userIdentity":{"type":"AssumedRole","principalId":"AROA1:alice@example.com","arn":"arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_1/alice@example.com","accountId":"111111111111","accessKeyId":"ASIACALLERKEY","sessionContext":{"attributes":{"mfaAuthenticated":"true","creationDate":"2019-10-02T21:50:54Z"},"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111111111111:role/AWSReservedSSO_Admin_1","userName":"AWSReservedSSO_Admin_1"}}},"eventTime":"2019-10-02T22:12:29Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","sourceIPAddress":"81.2.69.144","userAgent":"aws-cli/1.16","requestParameters":{"roleArn":"arn:aws:iam::111111111111:role/Deployer","roleSessionName":"botocore-session-1570054349"},"responseElements":{"credentials":{"accessKeyId":"ASIANEWKEY","expiration":"Oct 2, 2019 11:12:29 PM","sessionToken":"SECRET-SESSION-TOKEN"},"assumedRoleUser":{"assumedRoleId":"AROA2:botocore-session-1570054349","arn":"arn:aws:sts::111111111111:assumed-role/Deployer/botocore-session-1570054349"}},"eventID":"e-4"}"#;

    #[test]
    fn assume_role_issues_a_token_and_never_copies_the_session_token() {
        let e = one(ASSUME_ROLE);
        assert_eq!(e.class_uid, ClassUid::EntityManagement);
        assert_eq!(e.activity_id, 1);
        assert_eq!(e.action(), Some("token_create"));
        assert_eq!(e.actor_uid(), Some("alice@example.com"));
        assert_eq!(actor(&e).kind(), Some(IdentityKind::Human));
        assert_eq!(actor(&e).email_addr.as_deref(), Some("alice@example.com"));
        let s = e.session_ref().unwrap();
        assert_eq!(s.uid.as_deref(), Some("ASIACALLERKEY"));
        assert_eq!(s.is_mfa, Some(true));
        assert_eq!(s.created_time, Some(1_570_053_054_000));
        assert_eq!(
            s.issuer.as_deref(),
            Some("arn:aws:iam::111111111111:role/AWSReservedSSO_Admin_1")
        );
        let entity = e.entity.as_deref().unwrap();
        assert_eq!(entity.type_name.as_deref(), Some("api_token"));
        assert_eq!(entity.uid.as_deref(), Some("ASIANEWKEY"));
        let target = e.user.as_deref().unwrap();
        assert_eq!(
            target.uid.as_deref(),
            Some("arn:aws:iam::111111111111:role/Deployer")
        );
        assert_eq!(target.kind(), Some(IdentityKind::ServiceAccount));
        assert_eq!(e.app_domain(), Some("sts.amazonaws.com"));
        let api = e.api.as_deref().unwrap();
        assert_eq!(api.operation.as_deref(), Some("AssumeRole"));
        let json = e.to_ocsf_json();
        assert!(!json.contains("SECRET-SESSION-TOKEN"), "{json}");
    }

    #[test]
    fn aws_service_actor_has_no_source_ip() {
        let e = one(
            r#"{"userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"},"eventTime":"2024-10-08T10:15:32Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","sourceIPAddress":"ec2.amazonaws.com","userAgent":"ec2.amazonaws.com","requestParameters":{"roleArn":"arn:aws:iam::111111111111:role/ec2-instance-role","roleSessionName":"i-0123456789abcdef0"},"responseElements":{"credentials":{"accessKeyId":"ASIAEXAMPLE","sessionToken":"HIDDEN_DUE_TO_SECURITY_REASONS","expiration":"Oct 8, 2024, 4:15:32 PM"}},"eventID":"e-5"}"#,
        );
        assert_eq!(e.actor_uid(), Some("ec2.amazonaws.com"));
        assert_eq!(actor(&e).kind(), Some(IdentityKind::ServiceAccount));
        assert_eq!(e.src_ip(), None);
        assert!(e.session_ref().is_none());
        let target = e.user.as_deref().unwrap();
        assert_eq!(
            target.uid.as_deref(),
            Some("arn:aws:iam::111111111111:role/ec2-instance-role")
        );
        assert_eq!(target.name.as_deref(), Some("i-0123456789abcdef0"));
    }

    #[test]
    fn saml_sign_in_opens_the_session_its_credentials_key() {
        let e = one(
            r#"{"userIdentity":{"type":"SAMLUser","principalId":"abc=:bob@example.com","userName":"bob@example.com","identityProvider":"abc="},"eventTime":"2024-01-05T09:00:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRoleWithSAML","sourceIPAddress":"198.51.100.7","requestParameters":{"roleArn":"arn:aws:iam::1:role/Dev","principalArn":"arn:aws:iam::1:saml-provider/Okta"},"responseElements":{"credentials":{"accessKeyId":"ASIASAML","expiration":"Jan 5, 2024, 10:00:00 AM"},"assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/Dev/bob@example.com"}},"eventID":"e-6"}"#,
        );
        assert_eq!(e.class_uid, ClassUid::Authentication);
        assert_eq!(e.activity_id, 1);
        assert_eq!(e.action(), Some("login"));
        assert_eq!(e.auth_protocol.as_deref(), Some("sso"));
        assert_eq!(e.actor_uid(), Some("bob@example.com"));
        let s = e.session_ref().unwrap();
        assert_eq!(s.uid.as_deref(), Some("ASIASAML"));
        assert_eq!(s.created_time, Some(e.time));
        assert_eq!(s.expiration_time, Some(e.time + 3_600_000));
        assert_eq!(
            e.user.as_deref().unwrap().uid.as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(
            e.entity.as_deref().unwrap().uid.as_deref(),
            Some("ASIASAML")
        );
    }

    #[test]
    fn attach_user_policy_grants_the_policy_to_the_target_user() {
        let e = one(
            r#"{"userIdentity":{"type":"AssumedRole","principalId":"P:i-06815aa7cf7d21f8f","arn":"arn:aws:sts::000000000:assumed-role/ec2-instance-role/i-06815aa7cf7d21f8f","accountId":"000000000","accessKeyId":"ASIAKEY","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::000000000:role/ec2-instance-role","userName":"ec2-instance-role"},"attributes":{"creationDate":"2024-10-30T19:14:35Z","mfaAuthenticated":"false"}}},"eventTime":"2024-10-30T20:01:59Z","eventSource":"iam.amazonaws.com","eventName":"AttachUserPolicy","sourceIPAddress":"216.160.83.56","requestParameters":{"userName":"backdoor","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"},"responseElements":null,"eventID":"e-7"}"#,
        );
        assert_eq!(e.class_uid, ClassUid::UserAccessManagement);
        assert_eq!(e.type_uid, 300_501);
        assert_eq!(e.action(), Some("privilege_grant"));
        assert_eq!(
            e.privileges,
            ["arn:aws:iam::aws:policy/AdministratorAccess"]
        );
        assert_eq!(e.user.as_deref().unwrap().uid.as_deref(), Some("backdoor"));
        assert_eq!(
            e.actor_uid(),
            Some("arn:aws:iam::000000000:role/ec2-instance-role")
        );
        assert_eq!(actor(&e).kind(), Some(IdentityKind::ServiceAccount));
        assert_eq!(actor(&e).name.as_deref(), Some("i-06815aa7cf7d21f8f"));
        assert_eq!(e.session_ref().unwrap().uid.as_deref(), Some("ASIAKEY"));
        assert_eq!(e.session_ref().unwrap().is_mfa, Some(false));
    }

    #[test]
    fn create_access_key_records_the_key_id_but_not_the_secret() {
        let e = one(
            r#"{"userIdentity":{"type":"IAMUser","userName":"admin","accessKeyId":"AKIAADMIN"},"eventTime":"2024-01-05T09:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","requestParameters":{"userName":"svc-backup"},"responseElements":{"accessKey":{"accessKeyId":"AKIANEW","status":"Active","userName":"svc-backup","secretAccessKey":"TOPSECRET"}},"eventID":"e-8"}"#,
        );
        assert_eq!(e.class_uid, ClassUid::EntityManagement);
        assert_eq!(e.action(), Some("token_create"));
        assert_eq!(e.entity.as_deref().unwrap().uid.as_deref(), Some("AKIANEW"));
        assert_eq!(
            e.user.as_deref().unwrap().uid.as_deref(),
            Some("svc-backup")
        );
        let s = e.session_ref().unwrap();
        assert_eq!(s.uid, None, "a long-term key is no session");
        assert_eq!(s.credential_uid, Some(token_fingerprint("AKIAADMIN")));
        assert!(!e.to_ocsf_json().contains("TOPSECRET"));
    }

    #[test]
    fn secrets_are_read_api_activity_with_secret_resources() {
        let e = one(
            r#"{"eventName":"BatchGetSecretValue","eventSource":"secretsmanager.amazonaws.com","eventTime":"2024-10-11T08:56:05Z","readOnly":true,"requestParameters":{"secretIdList":["arn:aws:secretsmanager:us-east-1:0:secret:MyTestSecret-nxYStj","plain-name"]},"userIdentity":{"type":"IAMUser","userName":"test@elastic.co","accessKeyId":"AKIA1"},"eventID":"e-9"}"#,
        );
        assert_eq!(e.class_uid, ClassUid::ApiActivity);
        assert_eq!(e.type_uid, 600_302);
        assert_eq!(e.action(), Some("api_call"));
        assert_eq!(e.web_resources.len(), 2);
        assert_eq!(e.web_resources[0].type_name.as_deref(), Some("secret"));
        assert_eq!(e.web_resources[0].name.as_deref(), Some("MyTestSecret"));
        assert_eq!(e.web_resources[1].name.as_deref(), Some("plain-name"));
        assert_eq!(e.web_resources[1].uid, None);
        assert_eq!(e.midwatch.count, Some(2));
        assert_eq!(actor(&e).email_addr.as_deref(), Some("test@elastic.co"));
    }

    #[test]
    fn s3_get_object_is_a_download() {
        let e = one(
            r#"{"eventName":"GetObject","eventSource":"s3.amazonaws.com","eventTime":"2024-10-08T12:24:16Z","userAgent":"[aws-cli/2.17.60]","requestParameters":{"bucketName":"b","key":"dir/report.csv"},"additionalEventData":{"bytesTransferredOut":"224"},"userIdentity":{"type":"IAMUser","userName":"u"},"eventID":"e-10"}"#,
        );
        assert_eq!(e.class_uid, ClassUid::FileHostingActivity);
        assert_eq!(e.activity_id, 2);
        assert_eq!(e.action(), Some("download"));
        let f = e.file.as_deref().unwrap();
        assert_eq!(f.name.as_deref(), Some("report.csv"));
        assert_eq!(f.uid.as_deref(), Some("arn:aws:s3:::b/dir/report.csv"));
        assert_eq!(f.size, Some(224));
        assert_eq!(e.user_agent(), Some("aws-cli/2.17.60"));
    }

    #[test]
    fn verbs_pick_the_api_activity() {
        assert_eq!(verb_activity("RunInstances", None), 1);
        assert_eq!(verb_activity("CreateKeyPair", None), 1);
        assert_eq!(verb_activity("DescribeInstances", None), 2);
        assert_eq!(verb_activity("BatchGetImage", None), 2);
        assert_eq!(verb_activity("PutBucketPolicy", None), 3);
        assert_eq!(verb_activity("DeleteBucket", None), 4);
        assert_eq!(verb_activity("TerminateInstances", None), 4);
        assert_eq!(
            verb_activity("Settle", None),
            99,
            "verb must end at a word boundary"
        );
        assert_eq!(verb_activity("Decrypt", Some(true)), 2);
        assert_eq!(verb_activity("Decrypt", None), 99);
    }

    #[test]
    fn access_denied_api_calls_fail_with_the_reason() {
        let e = one(
            r#"{"eventName":"ListBuckets","eventSource":"s3.amazonaws.com","eventTime":"2024-01-05T09:00:00Z","errorCode":"AccessDenied","errorMessage":"Access Denied","userIdentity":{"type":"IAMUser","userName":"u"}}"#,
        );
        assert_eq!(e.status_id, StatusId::Failure);
        assert_eq!(
            e.status_detail.as_deref(),
            Some("AccessDenied: Access Denied")
        );
        assert_eq!(e.action(), Some("access_denied"));
        assert_eq!(e.activity_id, 2);
    }

    #[test]
    fn log_files_yield_every_record_with_distinct_ids() {
        let file = format!(
            r#"{{"Records":[{CONSOLE_OK},{{"eventName":"DeleteBucket","eventSource":"s3.amazonaws.com","eventTime":"2016-11-14T17:25:45Z"}},{{"eventName":"DeleteBucket","eventSource":"s3.amazonaws.com","eventTime":"2016-11-14T17:25:45Z"}},{{"eventName":"NoTime"}},7]}}"#
        );
        let Parsed::Events(events) = parse(&file).unwrap() else {
            panic!("skipped")
        };
        assert_eq!(
            events.len(),
            3,
            "the two bad items are dropped, the rest kept"
        );
        assert_eq!(events[0].uid(), "e-1");
        assert!(events[1].uid().ends_with(":1"));
        assert!(events[2].uid().ends_with(":2"));
        assert_ne!(events[1].uid(), events[2].uid());
        let err = parse(r#"{"Records":[{"eventName":"X"}]}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("Records.0.eventTime"));
        assert!(matches!(
            parse(r#"{"Records":[]}"#).unwrap(),
            Parsed::Skip(_)
        ));
        let bom = format!("\u{feff}{CONSOLE_OK}");
        assert!(matches!(parse(&bom).unwrap(), Parsed::Events(_)));
    }

    #[test]
    fn digest_files_are_skipped() {
        let out = parse(
            r#"{"awsAccountId":"1","digestStartTime":"2020-09-11T18:36:49Z","digestEndTime":"2020-09-11T19:36:49Z","digestPublicKeyFingerprint":"47aa","logFiles":[]}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            Parsed::Skip("cloudtrail digest file, not an event stream".into())
        );
    }

    #[test]
    fn tolerates_nulls_strings_and_numbers() {
        let e = one(
            r#"{"eventName":"CreateKeyPair","eventSource":"ec2.amazonaws.com","eventTime":1394125834,"eventID":null,"sourceIPAddress":null,"userAgent":"null","readOnly":"false","userIdentity":{"type":"IAMUser","userName":42,"accessKeyId":"ASIATEMP","sessionContext":{"attributes":{"mfaAuthenticated":true,"creationDate":"20140306T151506Z"}}},"requestParameters":"{\"keyName\":\"mykeypair\"}","responseElements":{"keyName":"mykeypair","keyMaterial":"<sensitiveDataRemoved>"},"resources":{"oops":1}}"#,
        );
        assert_eq!(e.time, 1_394_125_834_000);
        assert!(
            e.uid().starts_with("cloudtrail:"),
            "derived id: {}",
            e.uid()
        );
        assert_eq!(e.metadata.original_event_uid, None);
        assert_eq!(e.actor_uid(), Some("42"));
        assert_eq!(e.src_ip(), None);
        assert_eq!(e.user_agent(), None);
        let s = e.session_ref().unwrap();
        assert_eq!(s.uid.as_deref(), Some("ASIATEMP"));
        assert_eq!(s.is_mfa, Some(true));
        assert_eq!(s.created_time, Some(1_394_118_906_000));
        assert_eq!(e.activity_id, 1);
        assert_eq!(e.web_resources[0].name.as_deref(), Some("mykeypair"));
    }

    #[test]
    fn rejections_name_the_field() {
        let err = parse(r#"{"eventName":"ConsoleLogin"}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("eventTime"));
        assert_eq!(err.to_string(), "`eventTime`: missing");
        let err = parse(r#"{"eventName":"ConsoleLogin","eventTime":"yesterday"}"#).unwrap_err();
        assert_eq!(err.to_string(), "`eventTime`: `yesterday` is not a time");
        let err = parse(r#"{"eventTime":"2024-01-05T09:00:00Z"}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("eventName"));
        assert!(
            parse("[1]")
                .unwrap_err()
                .to_string()
                .contains("not a JSON object")
        );
        assert!(parse(r#"{"eventName":"#).is_err());
        assert!(parse(r#"{"eventName":"X","eventTime":"2024-01-05T09:00:00Z"} x"#).is_err());
    }

    #[test]
    fn time_formats() {
        assert_eq!(parse_time("20131102T010628Z"), Some(1_383_354_388_000));
        assert_eq!(
            parse_time("Oct 8, 2024, 4:15:32 PM"),
            parse_time("2024-10-08T16:15:32Z")
        );
        assert_eq!(
            parse_time("Oct 2, 2019 12:12:29 AM"),
            parse_time("2019-10-02T00:12:29Z")
        );
        assert_eq!(parse_time("Foo 2, 2019 1:00:00 PM"), None);
        assert_eq!(parse_time("2013110xT010628Z"), None);
    }
}
