//! Microsoft 365 unified audit log: Office 365 Management Activity API records.
//!
//! One JSON object per record, exactly as the Management Activity API (or the Graph
//! `auditLogRecord.auditData`) emits it: the common schema (`Id`, `CreationTime`,
//! `RecordType`, `Operation`, `Workload`, `UserId`, `UserType`, `ClientIP`, `ResultStatus`,
//! `AppAccessContext`, …) plus the workload-specific fields of Entra ID (Azure AD), Exchange,
//! SharePoint/OneDrive, Power BI, Yammer, Teams, Copilot and Security & Compliance alerts.
//!
//! Each record becomes one OCSF event: sign-ins are Authentication, file operations File
//! Hosting, mailbox item access and exports Web Resources, mailbox configuration Entity
//! Management, permission and role changes User Access Management, and anything else API
//! Activity (by the operation's verb, else 99). An unknown operation is never a rejection.
//!
//! Vendor quirks handled:
//! - `CreationTime` usually has no zone (it is UTC); seven fractional digits; US-style
//!   `M/D/YYYY h:mm:ss AM` text is read too.
//! - `RecordType`, `UserType`, `LogonType`, `Version` arrive as numbers or numeric strings;
//!   Graph sends the enum names (`ExchangeAdmin`, `Regular`) instead.
//! - `ClientIP` may carry a port (`1.2.3.4:5678`), brackets (`[::1]:443`), an IPv4-mapped
//!   IPv6 form (`::ffff:10.1.2.3`, kept as the IPv4 address) or garbage (`localhost`, a host
//!   name): it is normalized to an IP or dropped, never a reason to reject. Exchange's
//!   `ClientIPAddress` is preferred when valid, because Exchange's `ClientIP` is often the
//!   Microsoft front end that relayed the request.
//! - `ExtendedProperties`, `Parameters`, `DeviceProperties`, `OperationProperties` are
//!   `[{Name, Value}]` lists, or a string holding that JSON, or a PowerShell command line
//!   (`-Name "foo" -Force "True"`); all three are read.
//! - `ModifiedProperties` is a list of `{Name, NewValue, OldValue}` or of plain names.
//! - Nested objects (`AppAccessContext`, `Item`, `CopilotEventData`) may be null, strings
//!   holding JSON, or of the wrong type; they are read when they can be and ignored otherwise.
//! - Well-known system principals (`S-1-5-18`, `NT AUTHORITY\SYSTEM …`, `SHAREPOINT\system`,
//!   `app@sharepoint`) are service accounts even when `UserType` says 0 (regular).
//! - The Entra STS logon `ResultStatus` only reports the HTTP call: the outcome of a sign-in
//!   comes from the operation (`UserLoggedIn` / `UserLoginFailed`).
//! - `AppAccessContext.UniqueTokenId` is a token identifier, kept only as a `sha256:`
//!   fingerprint so sessions can be stitched with Entra sign-in logs without storing it.

use crate::lenient;
use crate::{ParseError, Parsed, RecordCtx, Source};
use midwatch_model::event::{
    Api, ApiService, Device, DstEndpoint, Entity, File, HttpRequest, ProductRef, SessionRef,
    SrcEndpoint, User, WebResource,
};
use midwatch_model::hash::token_fingerprint;
use midwatch_model::{ClassUid, Event, IdentityKind, StatusId};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};

/// The Microsoft 365 Management Activity API source.
#[derive(Debug, Clone, Copy, Default)]
pub struct M365;

const NAME: &str = "m365";

/// Most web resources one record contributes (a `MailItemsAccessed` sync can list thousands
/// of items; the count is kept in `midwatch.count`).
const MAX_RESOURCES: usize = 32;

// ---------------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Record {
    #[serde(rename = "Id", deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(rename = "CreationTime", deserialize_with = "lenient::string")]
    creation_time: Option<String>,
    #[serde(rename = "RecordType", deserialize_with = "lenient::string")]
    record_type: Option<String>,
    #[serde(rename = "Operation", deserialize_with = "lenient::string")]
    operation: Option<String>,
    /// Power BI repeats the operation here.
    #[serde(rename = "Activity", deserialize_with = "lenient::string")]
    activity: Option<String>,
    #[serde(rename = "Workload", deserialize_with = "lenient::string")]
    workload: Option<String>,
    #[serde(rename = "OrganizationId", deserialize_with = "lenient::string")]
    organization_id: Option<String>,
    #[serde(rename = "UserId", deserialize_with = "lenient::string")]
    user_id: Option<String>,
    #[serde(rename = "UserKey", deserialize_with = "lenient::string")]
    user_key: Option<String>,
    #[serde(rename = "UserType", deserialize_with = "lenient::string")]
    user_type: Option<String>,
    /// Yammer's acting user.
    #[serde(rename = "ActorUserId", deserialize_with = "lenient::string")]
    actor_user_id: Option<String>,
    #[serde(rename = "ClientIP", deserialize_with = "lenient::string")]
    client_ip: Option<String>,
    #[serde(rename = "ClientIPAddress", deserialize_with = "lenient::string")]
    client_ip_address: Option<String>,
    #[serde(rename = "ActorIpAddress", deserialize_with = "lenient::string")]
    actor_ip_address: Option<String>,
    #[serde(rename = "ResultStatus", deserialize_with = "lenient::string")]
    result_status: Option<String>,
    #[serde(rename = "ObjectId", deserialize_with = "lenient::string")]
    object_id: Option<String>,
    #[serde(rename = "UserAgent", deserialize_with = "lenient::string")]
    user_agent: Option<String>,
    #[serde(rename = "AppAccessContext", deserialize_with = "object")]
    app_access_context: Option<AppAccessContext>,
    #[serde(rename = "SessionId", deserialize_with = "lenient::string")]
    session_id: Option<String>,
    #[serde(rename = "ClientAppName", deserialize_with = "lenient::string")]
    client_app_name: Option<String>,
    #[serde(
        rename = "ApplicationDisplayName",
        deserialize_with = "lenient::string"
    )]
    application_display_name: Option<String>,
    // SharePoint / OneDrive.
    #[serde(rename = "SiteUrl", deserialize_with = "lenient::string")]
    site_url: Option<String>,
    #[serde(rename = "SourceFileName", deserialize_with = "lenient::string")]
    source_file_name: Option<String>,
    #[serde(rename = "SourceRelativeUrl", deserialize_with = "lenient::string")]
    source_relative_url: Option<String>,
    #[serde(rename = "ListItemUniqueId", deserialize_with = "lenient::string")]
    list_item_unique_id: Option<String>,
    #[serde(rename = "ItemType", deserialize_with = "lenient::string")]
    item_type: Option<String>,
    #[serde(rename = "FileSizeBytes", deserialize_with = "lenient::u64")]
    file_size_bytes: Option<u64>,
    #[serde(rename = "TargetUserOrGroupName", deserialize_with = "lenient::string")]
    target_user_or_group_name: Option<String>,
    #[serde(rename = "MachineId", deserialize_with = "lenient::string")]
    machine_id: Option<String>,
    #[serde(rename = "IsManagedDevice", deserialize_with = "lenient::bool")]
    is_managed_device: Option<bool>,
    #[serde(rename = "Platform", deserialize_with = "lenient::string")]
    platform: Option<String>,
    // Name/value lists.
    #[serde(rename = "ExtendedProperties", deserialize_with = "name_values")]
    extended_properties: Vec<Nv>,
    #[serde(rename = "Parameters", deserialize_with = "name_values")]
    parameters: Vec<Nv>,
    #[serde(rename = "DeviceProperties", deserialize_with = "name_values")]
    device_properties: Vec<Nv>,
    #[serde(rename = "OperationProperties", deserialize_with = "name_values")]
    operation_properties: Vec<Nv>,
    #[serde(
        rename = "ModifiedProperties",
        deserialize_with = "modified_properties"
    )]
    modified_properties: Vec<Modified>,
    // Entra ID.
    #[serde(rename = "Actor", deserialize_with = "objects")]
    actor: Vec<IdentityRef>,
    #[serde(rename = "Target", deserialize_with = "objects")]
    target: Vec<IdentityRef>,
    #[serde(rename = "LogonError", deserialize_with = "lenient::string")]
    logon_error: Option<String>,
    #[serde(rename = "ErrorNumber", deserialize_with = "lenient::string")]
    error_number: Option<String>,
    // Exchange mailbox.
    #[serde(rename = "LogonType", deserialize_with = "lenient::u64")]
    logon_type: Option<u64>,
    #[serde(rename = "MailboxOwnerUPN", deserialize_with = "lenient::string")]
    mailbox_owner_upn: Option<String>,
    #[serde(rename = "Item", deserialize_with = "object")]
    item: Option<MailItem>,
    #[serde(rename = "Folders", deserialize_with = "objects")]
    folders: Vec<MailFolder>,
    #[serde(rename = "AffectedItems", deserialize_with = "objects")]
    affected_items: Vec<MailItem>,
    #[serde(rename = "OperationCount", deserialize_with = "lenient::u64")]
    operation_count: Option<u64>,
    // Copilot and Teams.
    #[serde(rename = "CopilotEventData", deserialize_with = "object")]
    copilot_event_data: Option<CopilotData>,
    #[serde(rename = "Message", deserialize_with = "lenient::string")]
    message: Option<String>,
    // Security & Compliance alerts.
    #[serde(rename = "Name", deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(rename = "AlertId", deserialize_with = "lenient::string")]
    alert_id: Option<String>,
    #[serde(rename = "Severity", deserialize_with = "lenient::string")]
    severity: Option<String>,
    #[serde(rename = "Comments", deserialize_with = "lenient::string")]
    comments: Option<String>,
    #[serde(rename = "AlertEntityId", deserialize_with = "lenient::string")]
    alert_entity_id: Option<String>,
    #[serde(rename = "EntityType", deserialize_with = "lenient::string")]
    entity_type: Option<String>,
    #[serde(rename = "AlertLinks", deserialize_with = "objects")]
    alert_links: Vec<AlertLink>,
    // Power BI / Fabric.
    #[serde(rename = "ItemName", deserialize_with = "lenient::string")]
    item_name: Option<String>,
    #[serde(rename = "ObjectDisplayName", deserialize_with = "lenient::string")]
    object_display_name: Option<String>,
    #[serde(rename = "ObjectType", deserialize_with = "lenient::string")]
    object_type: Option<String>,
    #[serde(rename = "ArtifactId", deserialize_with = "lenient::string")]
    artifact_id: Option<String>,
    #[serde(rename = "ReportId", deserialize_with = "lenient::string")]
    report_id: Option<String>,
    // Yammer.
    #[serde(rename = "GroupName", deserialize_with = "lenient::string")]
    group_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AppAccessContext {
    #[serde(rename = "AADSessionId", deserialize_with = "lenient::string")]
    aad_session_id: Option<String>,
    #[serde(rename = "ClientAppId", deserialize_with = "lenient::string")]
    client_app_id: Option<String>,
    #[serde(rename = "ClientAppName", deserialize_with = "lenient::string")]
    client_app_name: Option<String>,
    #[serde(rename = "UniqueTokenId", deserialize_with = "lenient::string")]
    unique_token_id: Option<String>,
    #[serde(rename = "IssuedAtTime", deserialize_with = "lenient::time")]
    issued_at_time: Option<i64>,
}

/// One `{Name, Value}` pair.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Nv {
    #[serde(rename = "Name", deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(rename = "Value", deserialize_with = "lenient::string")]
    value: Option<String>,
}

/// One `ModifiedProperties` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Modified {
    #[serde(rename = "Name", deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(rename = "NewValue", deserialize_with = "lenient::string")]
    new_value: Option<String>,
}

/// An Entra `Actor` / `Target` entry; `Type` 5 is a UPN, 1 a display name.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IdentityRef {
    #[serde(rename = "ID", deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(rename = "Type", deserialize_with = "lenient::u64")]
    kind: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MailItem {
    #[serde(rename = "Id", deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(rename = "Subject", deserialize_with = "lenient::string")]
    subject: Option<String>,
    #[serde(rename = "SizeInBytes", deserialize_with = "lenient::u64")]
    size: Option<u64>,
    #[serde(rename = "ParentFolder", deserialize_with = "object")]
    parent_folder: Option<FolderRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FolderRef {
    #[serde(rename = "Path", deserialize_with = "lenient::string")]
    path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MailFolder {
    #[serde(rename = "Id", deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(rename = "Path", deserialize_with = "lenient::string")]
    path: Option<String>,
    #[serde(rename = "FolderItems", deserialize_with = "objects")]
    folder_items: Vec<IgnoredObject>,
}

/// An element that is only counted.
#[derive(Debug, Default)]
struct IgnoredObject;

impl<'de> Deserialize<'de> for IgnoredObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| IgnoredObject)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CopilotData {
    #[serde(rename = "AppHost", deserialize_with = "lenient::string")]
    app_host: Option<String>,
    #[serde(rename = "ThreadId", deserialize_with = "lenient::string")]
    thread_id: Option<String>,
    #[serde(rename = "Contexts", deserialize_with = "objects")]
    contexts: Vec<CopilotResource>,
    #[serde(rename = "AccessedResources", deserialize_with = "objects")]
    accessed_resources: Vec<CopilotResource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CopilotResource {
    #[serde(rename = "Id", deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(rename = "Name", deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(rename = "Type", deserialize_with = "lenient::string")]
    kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AlertLink {
    #[serde(rename = "AlertLinkHref", deserialize_with = "lenient::string")]
    href: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Lenient readers for nested values
// ---------------------------------------------------------------------------------------

/// Visitor methods that answer `$default` for null and for every scalar: the value is of
/// the wrong type, which is not a reason to reject the record.
macro_rules! ignore_scalars {
    ($ty:ty, $default:expr) => {
        fn visit_none<E: de::Error>(self) -> Result<$ty, E> {
            Ok($default)
        }
        fn visit_unit<E: de::Error>(self) -> Result<$ty, E> {
            Ok($default)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$ty, E> {
            Ok($default)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<$ty, E> {
            Ok($default)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<$ty, E> {
            Ok($default)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$ty, E> {
            Ok($default)
        }
    };
}

/// A nested object read as `T`; a string holding its JSON is read too; anything else is
/// `None`.
fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    d.deserialize_any(ObjectVisitor(PhantomData))
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for ObjectVisitor<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        let t = v.trim_start();
        Ok(if t.starts_with('{') {
            serde_json::from_str(t).ok()
        } else {
            None
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
    ignore_scalars!(Option<T>, None);
}

/// `Option<T>` read leniently, for the elements of a list.
struct LenientSeed<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> de::DeserializeSeed<'de> for LenientSeed<T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(ObjectVisitor(PhantomData))
    }
}

/// A list of objects: an array (non-objects skipped), a single object, or a string holding
/// either.
fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    d.deserialize_any(ObjectsVisitor(PhantomData))
}

struct ObjectsVisitor<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned> Visitor<'de> for ObjectsVisitor<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(LenientSeed::<T>(PhantomData))? {
            if let Some(item) = item {
                out.push(item);
            }
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| vec![t])
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<T>, E> {
        let t = v.trim_start();
        Ok(if t.starts_with('[') || t.starts_with('{') {
            let mut de = serde_json::Deserializer::from_str(t);
            de.deserialize_any(ObjectsVisitor(PhantomData))
                .unwrap_or_default()
        } else {
            Vec::new()
        })
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_any(self)
    }
    ignore_scalars!(Vec<T>, Vec::new());
}

/// A `[{Name, Value}]` list, a `{name: value}` object, a string holding either, or a
/// PowerShell command line (`-Name "foo" -Force "True" -Locations ("All")`).
fn name_values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Nv>, D::Error> {
    d.deserialize_any(NameValuesVisitor)
}

struct NameValuesVisitor;

impl<'de> Visitor<'de> for NameValuesVisitor {
    type Value = Vec<Nv>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of name/value pairs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<Nv>, A::Error> {
        ObjectsVisitor::<Nv>(PhantomData).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Nv>, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(StringSeed)?;
            out.push(Nv {
                name: Some(key),
                value,
            });
        }
        Ok(out)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<Nv>, E> {
        let t = v.trim_start();
        Ok(if t.starts_with('[') || t.starts_with('{') {
            let mut de = serde_json::Deserializer::from_str(t);
            de.deserialize_any(NameValuesVisitor).unwrap_or_default()
        } else {
            parse_command_line(t)
        })
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Nv>, D::Error> {
        d.deserialize_any(self)
    }
    ignore_scalars!(Vec<Nv>, Vec::new());
}

struct StringSeed;

impl<'de> de::DeserializeSeed<'de> for StringSeed {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        lenient::string(d)
    }
}

/// `ModifiedProperties`: `{Name, NewValue, OldValue}` objects or bare property names.
fn modified_properties<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Modified>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Modified>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of modified properties")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Modified>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element_seed(ModifiedSeed)? {
                if let Some(item) = item {
                    out.push(item);
                }
            }
            Ok(out)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<Modified>, E> {
            let t = v.trim_start();
            Ok(if t.starts_with('[') {
                let mut de = serde_json::Deserializer::from_str(t);
                de.deserialize_any(V).unwrap_or_default()
            } else {
                Vec::new()
            })
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<Modified>, A::Error> {
            Modified::deserialize(de::value::MapAccessDeserializer::new(map)).map(|m| vec![m])
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Modified>, D::Error> {
            d.deserialize_any(self)
        }
        ignore_scalars!(Vec<Modified>, Vec::new());
    }
    d.deserialize_any(V)
}

struct ModifiedSeed;

impl<'de> de::DeserializeSeed<'de> for ModifiedSeed {
    type Value = Option<Modified>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Modified>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Modified>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a modified property")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Modified>, A::Error> {
                Modified::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Modified>, E> {
                Ok(Some(Modified {
                    name: Some(v.to_string()),
                    new_value: None,
                }))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Option<Modified>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Modified>, D::Error> {
                d.deserialize_any(self)
            }
            ignore_scalars!(Option<Modified>, None);
        }
        d.deserialize_any(V)
    }
}

/// Read `-Name value` pairs from a PowerShell command line as Exchange logs it. Values are
/// quoted (`"a b"`), parenthesized lists (`("All","x")`) or bare words; a switch without a
/// value gets none.
fn parse_command_line(s: &str) -> Vec<Nv> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0usize;
    let at = |i: usize| b.get(i).copied();
    while i < b.len() {
        while at(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        if at(i) != Some(b'-') {
            // Not a parameter: skip the word.
            while at(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                i += 1;
            }
            continue;
        }
        i += 1;
        let start = i;
        while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            i += 1;
        }
        let Some(name) = s.get(start..i).filter(|n| !n.is_empty()) else {
            while at(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                i += 1;
            }
            continue;
        };
        // `-Name:value` is also PowerShell.
        if at(i) == Some(b':') {
            i += 1;
        }
        while at(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        let value = match at(i) {
            Some(b'"') => {
                let vs = i + 1;
                i = vs;
                while at(i).is_some_and(|c| c != b'"') {
                    i += 1;
                }
                let v = s.get(vs..i);
                i += 1;
                v.map(str::to_string)
            }
            Some(b'(') => {
                let vs = i + 1;
                let mut depth = 1usize;
                let mut quoted = false;
                i = vs;
                while let Some(c) = at(i) {
                    match c {
                        b'"' => quoted = !quoted,
                        b'(' if !quoted => depth += 1,
                        b')' if !quoted => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let v = s.get(vs..i).map(|v| v.replace('"', ""));
                i += 1;
                v
            }
            Some(b'-') | None => None,
            Some(_) => {
                let vs = i;
                while at(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                    i += 1;
                }
                s.get(vs..i).map(str::to_string)
            }
        };
        out.push(Nv {
            name: Some(name.to_string()),
            value: value.filter(|v| !v.trim().is_empty()),
        });
    }
    out
}

fn nv<'a>(list: &'a [Nv], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|p| {
            p.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .and_then(|p| p.value.as_deref())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------
// Field helpers
// ---------------------------------------------------------------------------------------

/// Normalize a client IP as Microsoft writes it: strip brackets and a port, read IPv4-mapped
/// IPv6 as IPv4, and drop anything that is not an address (host names, `localhost`).
fn normalize_ip(raw: &str) -> Option<String> {
    let t = raw.trim();
    let t = match t.strip_prefix('[') {
        Some(rest) => rest.get(..rest.find(']')?)?,
        None => t,
    };
    let ip = match t.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => {
            // `a.b.c.d:port`; an IPv6 address with a port always comes in brackets.
            let (host, port) = t.rsplit_once(':')?;
            if port.is_empty() || !port.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            IpAddr::V4(host.parse::<Ipv4Addr>().ok()?)
        }
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    (!ip.is_unspecified()).then(|| ip.to_string())
}

/// Placeholders Microsoft writes where a user or value is unknown.
fn known(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|v| {
        !v.is_empty()
            && !v.eq_ignore_ascii_case("unknown")
            && !v.eq_ignore_ascii_case("not available")
            && !v.eq_ignore_ascii_case("n/a")
    })
}

/// Built-in system principals that act without a person behind them, whatever `UserType`
/// says.
fn is_system_principal(uid: &str) -> bool {
    let u = uid.trim();
    u == "S-1-5-18"
        || u == "S-1-5-19"
        || u == "S-1-5-20"
        || u.eq_ignore_ascii_case("app@sharepoint")
        || u.eq_ignore_ascii_case("SHAREPOINT\\system")
        || u.eq_ignore_ascii_case("SecurityComplianceAlerts")
        || u.eq_ignore_ascii_case("DlpAgent")
        || u.get(..13)
            .is_some_and(|p| p.eq_ignore_ascii_case("NT AUTHORITY\\"))
        || u.get(..17)
            .is_some_and(|p| p.eq_ignore_ascii_case("ServicePrincipal_"))
}

/// The identity kind for `UserType` (number or Graph enum name) and the user id.
fn identity_kind(user_type: Option<&str>, uid: &str) -> IdentityKind {
    if is_system_principal(uid) {
        return IdentityKind::ServiceAccount;
    }
    let Some(t) = user_type.map(str::trim) else {
        return IdentityKind::Human;
    };
    match t.parse::<u64>() {
        // 4 System, 5 Application, 6 ServicePrincipal, 7 CustomPolicy, 8 SystemPolicy.
        Ok(4..=8) => IdentityKind::ServiceAccount,
        // 0 Regular, 1 Reserved, 2 Admin, 3 DcAdmin, 9 PartnerTechnician, 10 Guest.
        Ok(_) => IdentityKind::Human,
        Err(_) => match t.to_ascii_lowercase().as_str() {
            "system" | "application" | "serviceprincipal" | "custompolicy" | "systempolicy" => {
                IdentityKind::ServiceAccount
            }
            _ => IdentityKind::Human,
        },
    }
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn user(uid: &str, kind: IdentityKind) -> User {
    let mut u = User::new(uid, kind);
    if looks_like_email(uid) {
        u.email_addr = Some(uid.to_string());
    }
    u
}

/// Host of an http(s) URL, lowercased.
fn url_host(url: &str) -> Option<String> {
    let rest = url
        .trim()
        .strip_prefix("https://")
        .or_else(|| url.trim().strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// A URL without its query string and fragment.
fn strip_query(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url).to_string()
}

/// `RecordType` member names for the numbers a record may carry (the common ones).
fn record_type_name(n: i64) -> Option<&'static str> {
    Some(match n {
        1 => "ExchangeAdmin",
        2 => "ExchangeItem",
        3 => "ExchangeItemGroup",
        4 => "SharePoint",
        6 => "SharePointFileOperation",
        7 => "OneDrive",
        8 => "AzureActiveDirectory",
        9 => "AzureActiveDirectoryAccountLogon",
        10 => "DataCenterSecurityCmdlet",
        11 => "ComplianceDLPSharePoint",
        13 => "ComplianceDLPExchange",
        14 => "SharePointSharingOperation",
        15 => "AzureActiveDirectoryStsLogon",
        18 => "SecurityComplianceCenterEOPCmdlet",
        19 => "ExchangeAggregatedOperation",
        20 => "PowerBIAudit",
        21 => "CRM",
        22 => "Yammer",
        24 => "Discovery",
        25 => "MicrosoftTeams",
        28 => "ThreatIntelligence",
        30 => "MicrosoftFlow",
        31 => "AeD",
        36 => "SharePointListOperation",
        40 => "SecurityComplianceAlerts",
        50 => "ExchangeItemAggregated",
        64 => "AirInvestigation",
        261 => "CopilotInteraction",
        _ => return None,
    })
}

/// The workload a record type belongs to, for records that omit `Workload`.
fn workload_of_record_type(n: i64) -> Option<&'static str> {
    Some(match n {
        1 | 2 | 3 | 19 | 50 => "Exchange",
        4 | 6 | 14 | 36 => "SharePoint",
        7 => "OneDrive",
        8 | 9 | 15 => "AzureActiveDirectory",
        20 => "PowerBI",
        22 => "Yammer",
        25 => "MicrosoftTeams",
        18 | 24 | 31 | 40 | 64 => "SecurityComplianceCenter",
        261 => "Copilot",
        _ => return None,
    })
}

/// The workloads whose behaviour differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    AzureAd,
    Exchange,
    SharePoint,
    OneDrive,
    PowerBi,
    Yammer,
    Teams,
    Copilot,
    Compliance,
    Other,
}

impl Workload {
    fn parse(s: &str) -> Workload {
        match s.to_ascii_lowercase().as_str() {
            "azureactivedirectory" | "entraid" | "azuread" => Workload::AzureAd,
            "exchange" => Workload::Exchange,
            "sharepoint" => Workload::SharePoint,
            "onedrive" => Workload::OneDrive,
            "powerbi" => Workload::PowerBi,
            "yammer" => Workload::Yammer,
            "microsoftteams" => Workload::Teams,
            "copilot" => Workload::Copilot,
            "securitycompliancecenter" | "compliance" => Workload::Compliance,
            _ => Workload::Other,
        }
    }

    /// The service's well-known host, when it has one per service rather than per tenant.
    fn default_host(self, name: &str) -> Option<&'static str> {
        Some(match self {
            Workload::AzureAd => "login.microsoftonline.com",
            Workload::Exchange => "outlook.office365.com",
            Workload::SharePoint | Workload::OneDrive => "sharepoint.com",
            Workload::PowerBi => "app.powerbi.com",
            Workload::Yammer => "www.yammer.com",
            Workload::Teams => "teams.microsoft.com",
            Workload::Copilot => "m365.cloud.microsoft",
            Workload::Compliance => "compliance.microsoft.com",
            Workload::Other => match name.to_ascii_lowercase().as_str() {
                "microsoftforms" => "forms.office.com",
                "microsoftflow" => "make.powerautomate.com",
                "powerapps" => "make.powerapps.com",
                "microsoftstream" => "stream.microsoft.com",
                "sway" => "sway.office.com",
                "threatintelligence" => "security.microsoft.com",
                "planner" => "tasks.office.com",
                "microsofttodo" => "to-do.office.com",
                _ => return None,
            },
        })
    }
}

// ---------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------

/// What an operation means: OCSF class and activity, the midwatch action when one applies,
/// and what the main object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    class: ClassUid,
    activity: u32,
    action: Option<&'static str>,
    target: Target,
}

/// The kind of object an operation acts on, to know which fields describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    None,
    SignIn,
    Account,
    Role,
    MailboxPermission,
    OAuthGrant,
    ServicePrincipal,
    Credential,
    MailboxConfig,
    File,
    Share,
    MailItem,
    Search,
    Export,
    Alert,
    Ai,
}

const fn kind(
    class: ClassUid,
    activity: u32,
    action: Option<&'static str>,
    target: Target,
) -> Kind {
    Kind {
        class,
        activity,
        action,
        target,
    }
}

/// Verb of an operation name (`New-InboxRule`, `CreateArtifact`, `Delete user.`) to an API
/// Activity id: create 1, read 2, update 3, delete 4, else 99.
fn verb_activity(op: &str) -> u32 {
    const VERBS: &[(&str, u32)] = &[
        ("create", 1),
        ("new", 1),
        ("add", 1),
        ("get", 2),
        ("view", 2),
        ("read", 2),
        ("list", 2),
        ("update", 3),
        ("set", 3),
        ("edit", 3),
        ("modify", 3),
        ("change", 3),
        ("enable", 3),
        ("disable", 3),
        ("delete", 4),
        ("remove", 4),
    ];
    VERBS
        .iter()
        .find(|(verb, _)| {
            op.get(..verb.len()).is_some_and(|p| p.eq_ignore_ascii_case(verb))
                // The verb must end there: `Settings` is not `Set`.
                && op
                    .get(verb.len()..)
                    .and_then(|r| r.chars().next())
                    .is_none_or(|c| !c.is_ascii_lowercase())
        })
        .map_or(99, |&(_, a)| a)
}

/// Map an operation to its class, activity and action.
fn classify(op: &str, workload: Workload, record_type: Option<i64>) -> Kind {
    use ClassUid::{
        AccountChange, ApiActivity, Authentication, EntityManagement, FileHostingActivity,
        UserAccessManagement, WebResourcesActivity,
    };
    // Entra operation names end with a period (`Add member to role.`).
    let lop = op.trim().trim_end_matches('.').to_ascii_lowercase();
    match lop.as_str() {
        // Sign-ins.
        "userloggedin" | "teamssessionstarted" | "mailboxlogin" => {
            kind(Authentication, 1, Some("login"), Target::SignIn)
        }
        "userloginfailed" => kind(Authentication, 1, Some("login"), Target::SignIn),
        "update stsrefreshtokenvalidfrom timestamp" => {
            kind(Authentication, 2, Some("session_revoked"), Target::Account)
        }
        // Accounts.
        "add user" => kind(AccountChange, 1, Some("account_create"), Target::Account),
        "enable account" => kind(AccountChange, 2, None, Target::Account),
        "change user password" | "change password (self-service)" => {
            kind(AccountChange, 3, Some("password_change"), Target::Account)
        }
        "reset user password" | "reset password (self-service)" | "reset password (by admin)" => {
            kind(AccountChange, 4, Some("password_change"), Target::Account)
        }
        "disable account" => kind(AccountChange, 5, Some("account_disable"), Target::Account),
        "delete user" => kind(AccountChange, 6, None, Target::Account),
        "update user" => kind(AccountChange, 99, None, Target::Account),
        "user registered security info" | "user registered all required security info" => {
            kind(AccountChange, 10, Some("mfa_enroll"), Target::Account)
        }
        "user deleted security info" | "admin deleted security info" => {
            kind(AccountChange, 11, Some("mfa_remove"), Target::Account)
        }
        // Roles and group membership.
        "add member to role"
        | "add eligible member to role"
        | "add member to role completed (permanent)"
        | "add-rolegroupmember"
        | "new-managementroleassignment"
        | "add-managementroleassignment" => {
            kind(UserAccessManagement, 3, Some("role_assign"), Target::Role)
        }
        "remove member from role"
        | "remove eligible member from role"
        | "remove-rolegroupmember"
        | "remove-managementroleassignment" => {
            kind(UserAccessManagement, 4, Some("role_remove"), Target::Role)
        }
        "add member to group" => kind(
            UserAccessManagement,
            1,
            Some("privilege_grant"),
            Target::Role,
        ),
        "remove member from group" => kind(
            UserAccessManagement,
            2,
            Some("privilege_revoke"),
            Target::Role,
        ),
        // Mailbox permissions.
        "add-mailboxpermission"
        | "add-recipientpermission"
        | "add-mailboxfolderpermission"
        | "set-mailboxfolderpermission"
        | "addfolderpermissions"
        | "updatefolderpermissions" => kind(
            UserAccessManagement,
            1,
            Some("privilege_grant"),
            Target::MailboxPermission,
        ),
        "remove-mailboxpermission"
        | "remove-recipientpermission"
        | "remove-mailboxfolderpermission"
        | "removefolderpermissions" => kind(
            UserAccessManagement,
            2,
            Some("privilege_revoke"),
            Target::MailboxPermission,
        ),
        // OAuth and applications.
        "consent to application"
        | "add delegated permission grant"
        | "add app role assignment to service principal"
        | "add app role assignment grant to user"
        | "add oauth2permissiongrant" => kind(
            EntityManagement,
            1,
            Some("oauth_consent"),
            Target::OAuthGrant,
        ),
        "remove delegated permission grant"
        | "remove app role assignment from service principal"
        | "remove oauth2permissiongrant" => kind(EntityManagement, 4, None, Target::OAuthGrant),
        "add service principal" | "add application" => {
            kind(EntityManagement, 1, None, Target::ServicePrincipal)
        }
        "delete service principal" | "delete application" => {
            kind(EntityManagement, 4, None, Target::ServicePrincipal)
        }
        "add service principal credentials"
        | "update application – certificates and secrets management"
        | "update application - certificates and secrets management" => kind(
            EntityManagement,
            1,
            Some("token_create"),
            Target::Credential,
        ),
        "remove service principal credentials" => kind(
            EntityManagement,
            4,
            Some("token_revoke"),
            Target::Credential,
        ),
        // Mailbox configuration: forwarding and inbox rules are how mail is siphoned off.
        "new-inboxrule"
        | "set-inboxrule"
        | "enable-inboxrule"
        | "disable-inboxrule"
        | "updateinboxrules"
        | "set-mailbox"
        | "set-casmailbox"
        | "set-mailboxjunkemailconfiguration"
        | "set-mailboxautoreplyconfiguration"
        | "set-owamailboxpolicy"
        | "new-transportrule"
        | "set-transportrule" => kind(EntityManagement, 3, None, Target::MailboxConfig),
        "remove-inboxrule" | "remove-transportrule" => {
            kind(EntityManagement, 4, None, Target::MailboxConfig)
        }
        // Files.
        "fileuploaded" | "filesyncuploadedfull" => {
            kind(FileHostingActivity, 1, Some("upload"), Target::File)
        }
        "filedownloaded" | "filesyncdownloadedfull" => {
            kind(FileHostingActivity, 2, Some("download"), Target::File)
        }
        "filemodified" | "filemodifiedextended" => kind(FileHostingActivity, 3, None, Target::File),
        "filedeleted"
        | "filerecycled"
        | "filedeletedfirststagerecyclebin"
        | "filedeletedsecondstagerecyclebin"
        | "folderdeleted"
        | "folderrecycled" => kind(FileHostingActivity, 4, None, Target::File),
        "filerenamed" | "folderrenamed" => kind(FileHostingActivity, 5, None, Target::File),
        "filecopied" | "foldercopied" => kind(FileHostingActivity, 6, None, Target::File),
        "filemoved" | "foldermoved" => kind(FileHostingActivity, 7, None, Target::File),
        "filerestored" | "folderrestored" => kind(FileHostingActivity, 8, None, Target::File),
        "filepreviewed" => kind(FileHostingActivity, 9, None, Target::File),
        "filecheckedout" => kind(FileHostingActivity, 10, None, Target::File),
        "filecheckedin" => kind(FileHostingActivity, 11, None, Target::File),
        "fileaccessed"
        | "fileaccessedextended"
        | "anonymouslinkused"
        | "securelinkused"
        | "companylinkused" => kind(FileHostingActivity, 14, None, Target::File),
        // Sharing.
        "sharingset"
        | "anonymouslinkcreated"
        | "anonymouslinkupdated"
        | "sharinginvitationcreated"
        | "accessinvitationcreated"
        | "addedtosecurelink"
        | "securelinkcreated"
        | "companylinkcreated"
        | "addedtogroup" => kind(FileHostingActivity, 12, Some("file_share"), Target::Share),
        "sharingrevoked"
        | "anonymouslinkremoved"
        | "removedfromsecurelink"
        | "securelinkdeleted"
        | "companylinkremoved"
        | "sharinginvitationrevoked" => kind(FileHostingActivity, 13, None, Target::Share),
        // Pages and searches.
        "pageviewed" | "pageviewedextended" => {
            kind(WebResourcesActivity, 2, Some("navigate"), Target::File)
        }
        "searchqueryinitiatedexchange"
        | "searchqueryinitiatedsharepoint"
        | "searchqueryperformed"
        | "searchstarted" => kind(WebResourcesActivity, 5, Some("search"), Target::Search),
        // Copilot and other AI assistants.
        "copilotinteraction" => kind(ApiActivity, 99, Some("api_call"), Target::Ai),
        _ if lop.starts_with("aiinteraction") => {
            kind(ApiActivity, 99, Some("api_call"), Target::Ai)
        }
        // Power BI downloads the whole .pbix, data included.
        "downloadreport" => kind(FileHostingActivity, 2, Some("download"), Target::Export),
        _ if is_export(&lop) => kind(WebResourcesActivity, 7, Some("export"), Target::Export),
        _ if record_type == Some(40)
            || (workload == Workload::Compliance && lop.starts_with("alert")) =>
        {
            kind(ApiActivity, 99, None, Target::Alert)
        }
        _ => classify_by_workload(&lop, op, workload, record_type),
    }
}

/// Exports: Power BI `ExportReport`/`ExportArtifact`, compliance `SearchExported`,
/// `SearchExportDownloaded`, eDiscovery export jobs, `New-MailboxExportRequest`; not the
/// cmdlets that only read or cancel one.
fn is_export(lop: &str) -> bool {
    lop.contains("export")
        && !["get-", "remove-", "set-", "suspend-", "resume-"]
            .iter()
            .any(|p| lop.starts_with(p))
}

fn classify_by_workload(lop: &str, op: &str, workload: Workload, record_type: Option<i64>) -> Kind {
    use ClassUid::{ApiActivity, WebResourcesActivity};
    let mailbox_item = workload == Workload::Exchange || matches!(record_type, Some(2 | 3 | 50));
    if mailbox_item {
        let item = match lop {
            "send" | "sendas" | "sendonbehalf" | "create" => Some(kind(
                WebResourcesActivity,
                1,
                Some("create"),
                Target::MailItem,
            )),
            "mailitemsaccessed" | "folderbind" | "messagebind" => {
                Some(kind(WebResourcesActivity, 2, None, Target::MailItem))
            }
            "update" => Some(kind(
                WebResourcesActivity,
                3,
                Some("update"),
                Target::MailItem,
            )),
            "softdelete" | "harddelete" | "movetodeleteditems" => Some(kind(
                WebResourcesActivity,
                4,
                Some("delete"),
                Target::MailItem,
            )),
            "move" | "copy" | "updatecalendardelegation" | "applyrecordlabel" => {
                Some(kind(WebResourcesActivity, 99, None, Target::MailItem))
            }
            _ => None,
        };
        if let Some(k) = item {
            return k;
        }
    }
    if matches!(
        workload,
        Workload::PowerBi | Workload::Yammer | Workload::Teams
    ) && (verb_activity(op) == 2
        || lop.ends_with("viewed")
        || lop.ends_with("visited")
        || lop.ends_with("read"))
    {
        return kind(WebResourcesActivity, 2, None, Target::None);
    }
    kind(ApiActivity, verb_activity(op), None, Target::None)
}

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `M/D/YYYY h:mm:ss AM` (the US culture Microsoft uses in some exports), UTC.
fn parse_us_time(s: &str) -> Option<i64> {
    let mut parts = s.split_whitespace();
    let date = parts.next()?;
    let clock = parts.next().unwrap_or("0:00:00");
    let meridiem = parts.next();
    let mut d = date.split('/').map(|p| p.parse::<i64>().ok());
    let (mo, day, year) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (mut h, mi, sec) = (c.next()??, c.next()??, c.next().flatten().unwrap_or(0));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || !(1970..=9999).contains(&year) {
        return None;
    }
    match meridiem.map(str::to_ascii_uppercase).as_deref() {
        Some("PM") if (1..12).contains(&h) => h += 12,
        Some("AM") if h == 12 => h = 0,
        Some("AM" | "PM") | None => {}
        Some(_) => return None,
    }
    if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..61).contains(&sec) {
        return None;
    }
    let days = days_from_civil(year, mo, day);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000)
}

fn parse_time(s: &str) -> Option<i64> {
    lenient::parse_time_text(s).or_else(|| parse_us_time(s.trim()))
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

impl Source for M365 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse(&self, raw: &[u8], _ctx: RecordCtx) -> Result<Parsed, ParseError> {
        // A struct also deserializes from a JSON array (fields by position), which would
        // turn `["id","2020-01-01"]` into a record: only objects are records.
        let first = raw.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(match serde_json::from_slice::<IgnoredAny>(raw) {
                Ok(_) => ParseError::record("a Management Activity record must be a JSON object"),
                Err(e) => json_error(&e),
            });
        }
        let rec: Record = serde_json::from_slice(raw).map_err(|e| json_error(&e))?;
        Ok(Parsed::Events(vec![to_event(rec, raw)?]))
    }
}

/// Turn a serde error into a reason without serde's `at line 1 column N` suffix.
fn json_error(e: &serde_json::Error) -> ParseError {
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(&msg).to_string(),
        None => msg,
    };
    if let Some(field) = msg
        .strip_prefix("duplicate field `")
        .and_then(|r| r.split('`').next())
    {
        return ParseError::field(field, "appears more than once");
    }
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            ParseError::record(format!("not valid JSON: {msg} (column {})", e.column()))
        }
        _ => ParseError::record(msg),
    }
}

fn to_event(r: Record, raw: &[u8]) -> Result<Event, ParseError> {
    let time_text = r
        .creation_time
        .as_deref()
        .ok_or_else(|| ParseError::field("CreationTime", "missing"))?;
    let time = parse_time(time_text)
        .ok_or_else(|| ParseError::field("CreationTime", format!("`{time_text}` is not a time")))?;
    let record_type_num = r
        .record_type
        .as_deref()
        .and_then(|t| t.trim().parse::<i64>().ok());
    // The operation names the event; a record without one still has its record type.
    let code = known(r.operation.as_deref())
        .or(known(r.activity.as_deref()))
        .map(str::to_string)
        .or_else(|| {
            r.record_type.as_deref().map(|t| {
                record_type_num
                    .and_then(record_type_name)
                    .map_or_else(|| t.trim().to_string(), str::to_string)
            })
        })
        .ok_or_else(|| ParseError::field("Operation", "missing, and no `RecordType` either"))?;
    let workload_name =
        known(r.workload.as_deref()).or_else(|| record_type_num.and_then(workload_of_record_type));
    let workload = workload_name.map_or(Workload::Other, Workload::parse);
    let k = classify(&code, workload, record_type_num);

    let uid =
        r.id.clone()
            .unwrap_or_else(|| crate::derived_uid(NAME, raw));
    let mut e = Event::new(k.class, k.activity, time, uid);
    e.metadata.original_event_uid = r.id.clone();
    e.metadata.product = ProductRef {
        name: "Microsoft 365 Unified Audit Log".into(),
        vendor_name: "Microsoft".into(),
    };
    if let Some(w) = workload_name {
        e.metadata.labels.push(format!("workload:{w}"));
    }
    if let Some(tenant) = known(r.organization_id.as_deref()) {
        e.metadata.labels.push(format!("tenant:{tenant}"));
    }
    // Exchange LogonType: someone other than the owner opened the mailbox.
    match r.logon_type {
        Some(1) => e.metadata.labels.push("mailbox_logon:admin".into()),
        Some(2) => e.metadata.labels.push("mailbox_logon:delegate".into()),
        _ => {}
    }
    e.metadata.event_code = Some(code.clone());
    e.midwatch.action = k.action.map(Into::into);

    set_outcome(&mut e, &r, &code);
    set_actor(&mut e, &r, k);
    set_session(&mut e, &r);
    set_endpoints(&mut e, &r, workload, workload_name);
    set_device(&mut e, &r);
    if k.class == ClassUid::Authentication && k.target == Target::SignIn {
        set_sign_in(&mut e, &r);
    }
    set_target(&mut e, &r, k, workload_name);
    if e.message.is_none() {
        e.message = r.message.clone();
    }
    Ok(e)
}

/// `ResultStatus` to an outcome; sign-in operations carry their own.
fn set_outcome(e: &mut Event, r: &Record, code: &str) {
    let status = r.result_status.as_deref().map(str::trim);
    let mut id = match status.map(str::to_ascii_lowercase).as_deref() {
        Some("succeeded" | "success" | "true" | "successful") => StatusId::Success,
        Some("failed" | "failure" | "false") => StatusId::Failure,
        Some("partiallysucceeded") => StatusId::Other,
        _ => StatusId::Unknown,
    };
    // Entra STS logon records report the HTTP call in ResultStatus, not the sign-in.
    if code.eq_ignore_ascii_case("UserLoggedIn") {
        id = StatusId::Success;
    } else if code.eq_ignore_ascii_case("UserLoginFailed") {
        id = StatusId::Failure;
    }
    e.set_status(id);
    let error_number = known(r.error_number.as_deref()).filter(|n| *n != "0");
    e.status_detail = known(r.logon_error.as_deref())
        .or(error_number)
        .or_else(|| nv(&r.extended_properties, "ResultStatusDetail"))
        .or_else(|| {
            // Keep vendor words that are neither plain success nor plain failure
            // (`InProgress`, `PartiallySucceeded`).
            status.filter(|_| matches!(id, StatusId::Unknown | StatusId::Other))
        })
        .filter(|s| !s.eq_ignore_ascii_case("success"))
        .map(str::to_string);
}

fn set_actor(e: &mut Event, r: &Record, k: Kind) {
    let uid = known(r.user_id.as_deref())
        .or(known(r.actor_user_id.as_deref()))
        .or(known(r.user_key.as_deref()));
    if let Some(uid) = uid {
        let kind = identity_kind(r.user_type.as_deref(), uid);
        let mut u = user(uid, kind);
        if uid.eq_ignore_ascii_case("app@sharepoint") {
            u.name = r.application_display_name.clone();
        }
        if k.class == ClassUid::Authentication && k.target == Target::SignIn {
            e.user = Some(Box::new(u.clone()));
        }
        e.actor.user = Some(Box::new(u));
    }
    let ctx = r.app_access_context.as_ref();
    e.actor.app_name = ctx
        .and_then(|c| known(c.client_app_name.as_deref()))
        .or(known(r.client_app_name.as_deref()))
        .or(known(r.application_display_name.as_deref()))
        .map(str::to_string);
    // Send As / Send on Behalf: the actor writes as the mailbox owner.
    let op = e.metadata.event_code.as_deref().unwrap_or_default();
    if (op.eq_ignore_ascii_case("SendAs") || op.eq_ignore_ascii_case("SendOnBehalf"))
        && let Some(owner) = known(r.mailbox_owner_upn.as_deref())
        && Some(owner) != uid
    {
        e.actor.on_behalf_of = Some(Box::new(user(owner, IdentityKind::Human)));
    }
}

fn set_session(e: &mut Event, r: &Record) {
    let ctx = r.app_access_context.as_ref();
    let session_uid = ctx
        .and_then(|c| known(c.aad_session_id.as_deref()))
        .or(known(r.session_id.as_deref()))
        .or_else(|| nv(&r.device_properties, "SessionId"));
    let credential = ctx
        .and_then(|c| known(c.unique_token_id.as_deref()))
        .map(token_fingerprint);
    if session_uid.is_none() && credential.is_none() {
        return;
    }
    e.actor.session = Some(Box::new(SessionRef {
        uid: session_uid.map(str::to_string),
        credential_uid: credential,
        created_time: ctx.and_then(|c| c.issued_at_time),
        expiration_time: None,
        is_mfa: None,
        issuer: None,
    }));
}

fn set_endpoints(e: &mut Event, r: &Record, workload: Workload, workload_name: Option<&str>) {
    let ip = r
        .client_ip_address
        .as_deref()
        .and_then(normalize_ip)
        .or_else(|| r.client_ip.as_deref().and_then(normalize_ip))
        .or_else(|| r.actor_ip_address.as_deref().and_then(normalize_ip));
    if ip.is_some() {
        e.src_endpoint = Some(Box::new(SrcEndpoint {
            ip,
            ..SrcEndpoint::default()
        }));
    }
    let user_agent = known(r.user_agent.as_deref())
        .or_else(|| nv(&r.extended_properties, "UserAgent"))
        .map(str::to_string);
    if user_agent.is_some() {
        e.http_request = Some(Box::new(HttpRequest {
            user_agent,
            ..HttpRequest::default()
        }));
    }
    if let Some(name) = workload_name {
        // SharePoint and OneDrive live on the tenant's own host.
        let tenant_host = matches!(workload, Workload::SharePoint | Workload::OneDrive)
            .then(|| {
                r.site_url
                    .as_deref()
                    .and_then(url_host)
                    .or_else(|| r.object_id.as_deref().and_then(url_host))
            })
            .flatten();
        e.dst_endpoint = Some(Box::new(DstEndpoint {
            hostname: tenant_host.or_else(|| workload.default_host(name).map(str::to_string)),
            svc_name: Some(name.to_string()),
        }));
    }
}

fn set_device(e: &mut Event, r: &Record) {
    let dp = &r.device_properties;
    let uid = nv(dp, "Id")
        .filter(|id| !id.chars().all(|c| c == '0' || c == '-'))
        .or(known(r.machine_id.as_deref()))
        .map(str::to_string);
    let managed = nv(dp, "IsCompliantAndManaged")
        .or_else(|| nv(dp, "IsManaged"))
        .and_then(|v| match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        })
        .or(r.is_managed_device);
    // `Platform` is an enum number in some record types; only a name says anything.
    let platform = known(r.platform.as_deref()).filter(|p| p.parse::<u64>().is_err());
    let os = nv(dp, "OS").or(platform).map(str::to_string);
    if uid.is_some() || managed.is_some() || os.is_some() {
        e.device = Some(Box::new(Device {
            uid,
            is_managed: managed,
            os_name: os,
        }));
    }
}

/// Entra STS sign-in facts: the protocol step the sign-in was and whether it was the
/// strong-authentication (MFA) step.
fn set_sign_in(e: &mut Event, r: &Record) {
    let Some(request) = nv(&r.extended_properties, "RequestType") else {
        return;
    };
    let lr = request.to_ascii_lowercase();
    let protocol = if lr.starts_with("login:") || lr.starts_with("cmsi:") {
        Some("password")
    } else if lr.starts_with("oauth2:token") {
        Some("token")
    } else if lr.starts_with("saml") || lr.starts_with("wsfederation") {
        Some("sso")
    } else {
        None
    };
    if let Some(p) = protocol {
        e.auth_protocol = Some(p.into());
        e.auth_protocol_id = Some(99);
    }
    // The Strong Authentication Service steps are the MFA part of a sign-in.
    if lr.starts_with("sas:") {
        e.is_mfa = Some(true);
        if let Some(s) = e.actor.session.as_deref_mut() {
            s.is_mfa = Some(true);
        }
    }
}

/// Entra `Target` entry of type UPN (5), else the first non-GUID-looking id.
fn target_upn(r: &Record) -> Option<&str> {
    r.target
        .iter()
        .find(|t| t.kind == Some(5))
        .and_then(|t| known(t.id.as_deref()))
}

fn target_name(r: &Record) -> Option<&str> {
    r.target
        .iter()
        .find(|t| t.kind == Some(1))
        .and_then(|t| known(t.id.as_deref()))
}

fn modified<'a>(r: &'a Record, name: &str) -> Option<&'a str> {
    r.modified_properties
        .iter()
        .find(|m| {
            m.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .and_then(|m| known(m.new_value.as_deref()))
}

/// `["Global Administrator"]`, `"Global Administrator"` or `A, B` as a list.
fn value_list(v: &str) -> Vec<String> {
    let t = v.trim();
    if t.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(t)
    {
        return list.into_iter().filter(|s| !s.trim().is_empty()).collect();
    }
    t.split([',', ';'])
        .map(|s| s.trim().trim_matches('"').trim())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// OAuth scopes from Entra's `ConsentAction.Permissions` text (`… Scope: openid Mail.Read, …`).
fn consent_scopes(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("Scope:") {
        let after = rest.get(i + 6..).unwrap_or_default();
        let end = after.find([',', ']']).unwrap_or(after.len());
        for s in after.get(..end).unwrap_or_default().split_whitespace() {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        rest = after.get(end..).unwrap_or_default();
    }
    out
}

fn push_resource(e: &mut Event, res: WebResource) {
    if e.web_resources.len() < MAX_RESOURCES
        && (res.name.is_some() || res.uid.is_some() || res.url_string.is_some())
    {
        e.web_resources.push(res);
    }
}

/// What the operation acted on: the target user, the file, the mail item, the grant.
fn set_target(e: &mut Event, r: &Record, k: Kind, workload_name: Option<&str>) {
    let params = &r.parameters;
    match k.target {
        Target::None | Target::SignIn | Target::Search => {}
        Target::Account => {
            if let Some(t) = target_upn(r).or(known(r.object_id.as_deref())) {
                e.user = Some(Box::new(user(t, IdentityKind::Human)));
            }
        }
        Target::Role => {
            let member = target_upn(r)
                .or_else(|| nv(params, "Member"))
                .or_else(|| nv(params, "User"))
                .or(known(r.object_id.as_deref()));
            if let Some(m) = member {
                e.user = Some(Box::new(user(m, IdentityKind::Human)));
            }
            let role = modified(r, "Role.DisplayName")
                .or_else(|| modified(r, "Group.DisplayName"))
                .or_else(|| nv(params, "Role"))
                .or_else(|| nv(params, "Identity"));
            if let Some(role) = role {
                e.privileges = value_list(role);
            }
        }
        Target::MailboxPermission => {
            if let Some(t) = nv(params, "User").or_else(|| nv(params, "Trustee")) {
                e.user = Some(Box::new(user(t, IdentityKind::Human)));
            }
            if let Some(rights) = nv(params, "AccessRights") {
                e.privileges = value_list(rights);
            }
            let mailbox = nv(params, "Identity").or(known(r.object_id.as_deref()));
            e.entity = Some(Box::new(Entity {
                type_name: Some("mailbox".into()),
                name: mailbox.map(str::to_string),
                ..Entity::default()
            }));
        }
        Target::OAuthGrant | Target::ServicePrincipal | Target::Credential => {
            let type_name = match k.target {
                Target::OAuthGrant => "oauth_grant",
                Target::Credential => "service_principal_credential",
                _ => "service_principal",
            };
            let scopes = modified(r, "ConsentAction.Permissions")
                .map(consent_scopes)
                .unwrap_or_default();
            let app_uid = r
                .target
                .iter()
                .find(|t| t.kind == Some(2))
                .and_then(|t| known(t.id.as_deref()))
                .or(known(r.object_id.as_deref()));
            e.entity = Some(Box::new(Entity {
                type_name: Some(type_name.into()),
                name: target_name(r).map(str::to_string),
                uid: app_uid.map(str::to_string),
                scopes,
            }));
        }
        Target::MailboxConfig => {
            let op = e.metadata.event_code.as_deref().unwrap_or_default();
            let is_rule = op.to_ascii_lowercase().contains("rule");
            let name = if is_rule {
                nv(params, "Name").or_else(|| nv(params, "Identity"))
            } else {
                nv(params, "Identity")
            }
            .or(known(r.object_id.as_deref()));
            e.entity = Some(Box::new(Entity {
                type_name: Some(if is_rule { "inbox_rule" } else { "mailbox" }.into()),
                name: name.map(str::to_string),
                uid: known(r.object_id.as_deref()).map(str::to_string),
                scopes: Vec::new(),
            }));
            // Where mail is sent on to is the fact that matters in a forwarding change.
            let forward = [
                "ForwardingSmtpAddress",
                "ForwardingAddress",
                "ForwardTo",
                "RedirectTo",
                "ForwardAsAttachmentTo",
            ]
            .iter()
            .find_map(|p| nv(params, p).map(|v| format!("{p}: {v}")));
            e.message = forward;
            if let Some(mailbox) = nv(params, "Mailbox") {
                e.user = Some(Box::new(user(mailbox, IdentityKind::Human)));
            }
        }
        Target::File | Target::Share => set_file(e, r, k),
        Target::MailItem => set_mail_item(e, r),
        Target::Export => {
            let name = known(r.item_name.as_deref())
                .or(known(r.object_display_name.as_deref()))
                .or(known(r.source_file_name.as_deref()))
                .or(known(r.object_id.as_deref()).filter(|o| url_host(o).is_none()));
            let uid = known(r.report_id.as_deref())
                .or(known(r.artifact_id.as_deref()))
                .or(known(r.object_id.as_deref()).filter(|o| url_host(o).is_none()));
            let type_name = known(r.object_type.as_deref())
                .or(known(r.item_type.as_deref()))
                .unwrap_or("report");
            push_resource(
                e,
                WebResource {
                    type_name: Some(type_name.to_ascii_lowercase()),
                    name: name.map(str::to_string),
                    uid: uid.map(str::to_string),
                    url_string: r
                        .object_id
                        .as_deref()
                        .filter(|o| url_host(o).is_some())
                        .map(strip_query),
                },
            );
        }
        Target::Alert => {
            e.severity_id = match r
                .severity
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("informational") => 1,
                Some("low") => 2,
                Some("medium") => 3,
                Some("high") => 4,
                Some("critical") => 5,
                _ => 1,
            };
            e.message = known(r.name.as_deref()).map(|n| match known(r.comments.as_deref()) {
                Some(c) => format!("{n}: {c}"),
                None => n.to_string(),
            });
            if r.entity_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("User"))
                && let Some(u) = known(r.alert_entity_id.as_deref())
            {
                e.user = Some(Box::new(user(u, IdentityKind::Human)));
            }
            push_resource(
                e,
                WebResource {
                    type_name: Some("alert".into()),
                    name: known(r.name.as_deref()).map(str::to_string),
                    uid: known(r.alert_id.as_deref()).map(str::to_string),
                    url_string: r
                        .alert_links
                        .iter()
                        .find_map(|l| known(l.href.as_deref()))
                        .map(strip_query),
                },
            );
        }
        Target::Ai => set_ai(e, r, workload_name),
    }
    if e.class_uid == ClassUid::ApiActivity {
        let service = match k.target {
            Target::Ai => r
                .copilot_event_data
                .as_ref()
                .and_then(|c| known(c.app_host.as_deref()))
                .or(workload_name),
            _ => workload_name,
        };
        e.api = Some(Box::new(Api {
            operation: e.metadata.event_code.clone(),
            service: service.map(|s| ApiService {
                name: Some(s.to_string().into()),
            }),
        }));
    }
    // Yammer groups and Power BI items are the resource for the remaining reads and calls.
    if e.web_resources.is_empty() && matches!(k.target, Target::None) {
        let name = known(r.group_name.as_deref())
            .or(known(r.item_name.as_deref()))
            .or(known(r.object_display_name.as_deref()));
        if let Some(name) = name {
            let type_name = if r.group_name.is_some() {
                Some("group".to_string())
            } else {
                known(r.object_type.as_deref()).map(str::to_ascii_lowercase)
            };
            push_resource(
                e,
                WebResource {
                    type_name,
                    name: Some(name.to_string()),
                    uid: known(r.artifact_id.as_deref())
                        .or(known(r.object_id.as_deref()))
                        .map(str::to_string),
                    url_string: None,
                },
            );
        }
    }
}

fn set_file(e: &mut Event, r: &Record, k: Kind) {
    let name = known(r.source_file_name.as_deref());
    // ObjectId is the file's full URL; older records only give site, folder and name.
    let url = known(r.object_id.as_deref())
        .filter(|o| url_host(o).is_some())
        .map(strip_query)
        .or_else(|| {
            let site = known(r.site_url.as_deref()).filter(|u| url_host(u).is_some())?;
            let folder = known(r.source_relative_url.as_deref())?;
            let mut url = strip_query(site).trim_end_matches('/').to_string();
            for part in [folder, name.unwrap_or_default()] {
                let part = part.trim_matches('/');
                if !part.is_empty() {
                    url.push('/');
                    url.push_str(part);
                }
            }
            Some(url)
        });
    if name.is_some() || url.is_some() {
        e.file = Some(Box::new(File {
            name: name.map(str::to_string),
            size: r.file_size_bytes,
            uid: known(r.list_item_unique_id.as_deref()).map(str::to_string),
            mime_type: None,
        }));
        push_resource(
            e,
            WebResource {
                type_name: Some(
                    known(r.item_type.as_deref())
                        .unwrap_or("File")
                        .to_ascii_lowercase(),
                ),
                name: name.map(str::to_string),
                uid: known(r.list_item_unique_id.as_deref()).map(str::to_string),
                url_string: url,
            },
        );
    }
    if k.target == Target::Share
        && let Some(t) = known(r.target_user_or_group_name.as_deref())
    {
        e.user = Some(Box::new(user(t, IdentityKind::Human)));
    }
}

fn set_mail_item(e: &mut Event, r: &Record) {
    if let Some(owner) = known(r.mailbox_owner_upn.as_deref()) {
        e.user = Some(Box::new(user(owner, IdentityKind::Human)));
    }
    let folder_items: usize = r.folders.iter().map(|f| f.folder_items.len()).sum();
    let count = r.operation_count.or_else(|| {
        u64::try_from(r.affected_items.len() + folder_items)
            .ok()
            .filter(|n| *n > 0)
    });
    e.midwatch.count = count;
    if let Some(item) = &r.item {
        push_resource(e, mail_resource(item));
    }
    for item in &r.affected_items {
        push_resource(e, mail_resource(item));
    }
    for f in &r.folders {
        push_resource(
            e,
            WebResource {
                type_name: Some("mail_folder".into()),
                name: known(f.path.as_deref()).map(str::to_string),
                uid: known(f.id.as_deref()).map(str::to_string),
                url_string: None,
            },
        );
    }
    if let Some(access) = nv(&r.operation_properties, "MailAccessType") {
        e.status_detail
            .get_or_insert_with(|| format!("MailAccessType: {access}"));
    }
}

fn mail_resource(item: &MailItem) -> WebResource {
    WebResource {
        type_name: Some("email".into()),
        name: known(item.subject.as_deref())
            .map(str::to_string)
            .or_else(|| {
                item.parent_folder
                    .as_ref()
                    .and_then(|f| known(f.path.as_deref()))
                    .map(str::to_string)
            }),
        uid: known(item.id.as_deref()).map(str::to_string),
        url_string: None,
    }
}

fn set_ai(e: &mut Event, r: &Record, workload_name: Option<&str>) {
    let Some(c) = &r.copilot_event_data else {
        e.actor
            .app_name
            .get_or_insert_with(|| workload_name.unwrap_or("Copilot").to_string());
        return;
    };
    if let Some(host) = known(c.app_host.as_deref()) {
        e.actor.app_name = Some(format!("Copilot ({host})"));
    }
    e.midwatch.count = u64::try_from(c.accessed_resources.len())
        .ok()
        .filter(|n| *n > 0);
    for res in c.contexts.iter().chain(&c.accessed_resources) {
        let (name, url) = match known(res.id.as_deref()) {
            Some(id) if url_host(id).is_some() => {
                (known(res.name.as_deref()), Some(strip_query(id)))
            }
            Some(id) => (known(res.name.as_deref()).or(Some(id)), None),
            None => (known(res.name.as_deref()), None),
        };
        push_resource(
            e,
            WebResource {
                type_name: known(res.kind.as_deref()).map(str::to_string),
                name: name.map(str::to_string),
                uid: None,
                url_string: url,
            },
        );
    }
    if let Some(t) = known(c.thread_id.as_deref()) {
        push_resource(
            e,
            WebResource {
                type_name: Some("copilot_thread".into()),
                name: None,
                uid: Some(t.to_string()),
                url_string: None,
            },
        );
    }
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

    fn parse(s: &str) -> Result<Event, ParseError> {
        match M365.parse(s.as_bytes(), RecordCtx::default())? {
            Parsed::Events(mut v) => {
                assert_eq!(v.len(), 1);
                let e = v.remove(0);
                e.validate().unwrap();
                Ok(e)
            }
            Parsed::Skip(n) => panic!("skipped: {n}"),
        }
    }

    fn ok(s: &str) -> Event {
        parse(s).unwrap_or_else(|err| panic!("{err}\n{s}"))
    }

    const SIGN_IN: &str = r#"{"CreationTime":"2026-01-05T09:00:00","Id":"s1","Operation":"UserLoggedIn",
        "OrganizationId":"org","RecordType":15,"ResultStatus":"Success","UserKey":"puid","UserType":0,
        "Workload":"AzureActiveDirectory","ClientIP":"[2001:db8::7]:443","ObjectId":"app",
        "UserId":"Alice@Contoso.com",
        "ExtendedProperties":[{"Name":"UserAgent","Value":"Mozilla/5.0 (X11)"},{"Name":"RequestType","Value":"Login:login"}],
        "DeviceProperties":[{"Name":"Id","Value":"dev-9"},{"Name":"OS","Value":"Windows10"},
            {"Name":"IsCompliantAndManaged","Value":"True"},{"Name":"SessionId","Value":"aad-sess-1"}],
        "AppAccessContext":{"AADSessionId":"aad-sess-1","UniqueTokenId":"tok-abc","IssuedAtTime":"2026-01-05T08:59:00"}}"#;

    #[test]
    fn entra_sign_in() {
        let e = ok(SIGN_IN);
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::Authentication, 1));
        assert_eq!(e.time, 1_767_603_600_000);
        assert_eq!(e.status_id, StatusId::Success);
        assert_eq!(e.midwatch.action.as_deref(), Some("login"));
        assert_eq!(e.metadata.event_code.as_deref(), Some("UserLoggedIn"));
        assert_eq!(e.metadata.uid, "s1");
        assert_eq!(e.actor_uid(), Some("Alice@Contoso.com"));
        assert_eq!(
            e.actor.user.as_ref().unwrap().kind(),
            Some(IdentityKind::Human)
        );
        assert_eq!(
            e.actor.user.as_ref().unwrap().email_addr.as_deref(),
            Some("Alice@Contoso.com")
        );
        assert_eq!(
            e.user.as_ref().unwrap().uid.as_deref(),
            Some("Alice@Contoso.com")
        );
        let s = e.session_ref().unwrap();
        assert_eq!(s.uid.as_deref(), Some("aad-sess-1"));
        assert_eq!(s.credential_uid, Some(token_fingerprint("tok-abc")));
        assert_eq!(s.created_time, Some(1_767_603_540_000));
        assert_eq!(e.src_ip(), Some("2001:db8::7"));
        assert_eq!(e.user_agent(), Some("Mozilla/5.0 (X11)"));
        assert_eq!(e.app_domain(), Some("login.microsoftonline.com"));
        assert_eq!(e.device_id(), Some("dev-9"));
        assert_eq!(e.device.as_ref().unwrap().is_managed, Some(true));
        assert_eq!(e.auth_protocol.as_deref(), Some("password"));
        assert_eq!(e.auth_protocol_id, Some(99));
        // The raw token id never appears in the event.
        assert!(!e.to_ocsf_json().contains("tok-abc"));
    }

    #[test]
    fn failed_sign_in_overrides_result_status() {
        let e = ok(
            r#"{"CreationTime":"2026-01-05T09:00:00","Id":"f1","Operation":"UserLoginFailed",
            "RecordType":"15","ResultStatus":"Succeeded","UserId":"bob@contoso.com","UserType":"0",
            "Workload":"AzureActiveDirectory","LogonError":"InvalidUserNameOrPassword","ErrorNumber":"50126",
            "ExtendedProperties":[{"Name":"RequestType","Value":"SAS:ProcessAuth"}]}"#,
        );
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::Authentication, 1));
        assert_eq!(e.status_id, StatusId::Failure);
        assert_eq!(
            e.status_detail.as_deref(),
            Some("InvalidUserNameOrPassword")
        );
        assert_eq!(e.is_mfa, Some(true));
    }

    #[test]
    fn file_download_upload_share() {
        let base = r#""CreationTime":"2026-01-05T10:00:00.1234567","RecordType":6,"UserType":0,
            "UserId":"carol@contoso.com","Workload":"OneDrive","ClientIP":"198.51.100.9:50123",
            "SiteUrl":"https://contoso-my.sharepoint.com/personal/carol/","SourceFileName":"plan.xlsx",
            "ObjectId":"https://contoso-my.sharepoint.com/personal/carol/Documents/plan.xlsx?web=1",
            "ItemType":"File","ListItemUniqueId":"li-1","UserAgent":"OneDrive/23",
            "AppAccessContext":"{\"AADSessionId\":\"sess-2\"}""#;
        let e = ok(&format!(
            r#"{{"Id":"d","Operation":"FileDownloaded",{base}}}"#
        ));
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::FileHostingActivity, 2)
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("download"));
        assert_eq!(e.app_domain(), Some("contoso-my.sharepoint.com"));
        assert_eq!(e.src_ip(), Some("198.51.100.9"));
        assert_eq!(e.session_ref().unwrap().uid.as_deref(), Some("sess-2"));
        assert_eq!(e.file.as_ref().unwrap().name.as_deref(), Some("plan.xlsx"));
        assert_eq!(
            e.web_resources[0].url_string.as_deref(),
            Some("https://contoso-my.sharepoint.com/personal/carol/Documents/plan.xlsx")
        );
        let e = ok(&format!(
            r#"{{"Id":"u","Operation":"FileUploaded",{base}}}"#
        ));
        assert_eq!(
            (e.activity_id, e.midwatch.action.as_deref()),
            (1, Some("upload"))
        );
        let e = ok(&format!(
            r#"{{"Id":"s","Operation":"AnonymousLinkCreated","TargetUserOrGroupName":"x@ext.com",{base}}}"#
        ));
        assert_eq!(
            (e.activity_id, e.midwatch.action.as_deref()),
            (12, Some("file_share"))
        );
        assert_eq!(e.user.as_ref().unwrap().uid.as_deref(), Some("x@ext.com"));
        let e = ok(&format!(
            r#"{{"Id":"a","Operation":"FileAccessed",{base}}}"#
        ));
        assert_eq!((e.activity_id, e.midwatch.action.as_deref()), (14, None));
        let e = ok(&format!(
            r#"{{"Id":"p","Operation":"FilePreviewed",{base}}}"#
        ));
        assert_eq!(e.activity_id, 9);
        let e = ok(
            r#"{"CreationTime":"2026-01-05T10:00:00","Operation":"FileDownloaded","Workload":"SharePoint",
            "SiteUrl":"https://contoso.sharepoint.com/sites/fin/","SourceRelativeUrl":"Shared Documents/Q1",
            "SourceFileName":"pay.csv","FileSizeBytes":"2048","OrganizationId":"tenant-1"}"#,
        );
        assert_eq!(
            e.web_resources[0].url_string.as_deref(),
            Some("https://contoso.sharepoint.com/sites/fin/Shared Documents/Q1/pay.csv")
        );
        assert_eq!(e.file.as_ref().unwrap().size, Some(2048));
        assert_eq!(e.app_domain(), Some("contoso.sharepoint.com"));
        assert!(e.metadata.labels.contains(&"tenant:tenant-1".to_string()));
    }

    #[test]
    fn exchange_mail_access_and_items() {
        let e = ok(
            r#"{"CreationTime":"2026-01-05T11:00:00","Id":"m","Operation":"MailItemsAccessed",
            "RecordType":50,"ResultStatus":"Succeeded","UserId":"dave@contoso.com","UserType":0,
            "Workload":"Exchange","ClientIPAddress":"203.0.113.5","ClientIP":"2603:10b6::1",
            "MailboxOwnerUPN":"erin@contoso.com","LogonType":"2","OperationCount":"12","SessionId":"ex-sess",
            "OperationProperties":[{"Name":"MailAccessType","Value":"Bind"}],
            "Folders":[{"Id":"f1","Path":"\\Inbox","FolderItems":[{"Id":"i1"},{"Id":"i2"}]}]}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::WebResourcesActivity, 2)
        );
        assert_eq!(e.src_ip(), Some("203.0.113.5"));
        assert_eq!(
            e.user.as_ref().unwrap().uid.as_deref(),
            Some("erin@contoso.com")
        );
        assert_eq!(e.midwatch.count, Some(12));
        assert_eq!(e.session_ref().unwrap().uid.as_deref(), Some("ex-sess"));
        assert_eq!(e.app_domain(), Some("outlook.office365.com"));
        assert_eq!(e.web_resources[0].name.as_deref(), Some("\\Inbox"));
        assert!(
            e.metadata
                .labels
                .contains(&"mailbox_logon:delegate".to_string())
        );

        let e = ok(
            r#"{"CreationTime":"2026-01-05T11:00:00","Id":"s","Operation":"SendAs",
            "RecordType":2,"UserId":"dave@contoso.com","Workload":"Exchange","MailboxOwnerUPN":"ceo@contoso.com",
            "Item":{"Id":"it","Subject":"Wire"}}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::WebResourcesActivity, 1)
        );
        assert_eq!(
            e.actor.on_behalf_of.as_ref().unwrap().uid.as_deref(),
            Some("ceo@contoso.com")
        );
        let e = ok(
            r#"{"CreationTime":"2026-01-05T11:00:00","Id":"u","Operation":"Update",
            "RecordType":"2","UserId":"dave@contoso.com","Workload":"Exchange","Item":"not an object"}"#,
        );
        assert_eq!(
            (e.activity_id, e.midwatch.action.as_deref()),
            (3, Some("update"))
        );
    }

    #[test]
    fn exchange_admin_cmdlets() {
        let e = ok(
            r#"{"CreationTime":"2026-01-05T12:00:00","Id":"r","Operation":"New-InboxRule",
            "RecordType":1,"ResultStatus":"True","UserId":"dave@contoso.com","UserType":2,"Workload":"Exchange",
            "ObjectId":"dave\\Fwd","Parameters":[{"Name":"Name","Value":"Fwd"},{"Name":"ForwardTo","Value":"x@evil.example"}]}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::EntityManagement, 3)
        );
        let ent = e.entity.as_ref().unwrap();
        assert_eq!(ent.type_name.as_deref(), Some("inbox_rule"));
        assert_eq!(ent.name.as_deref(), Some("Fwd"));
        assert_eq!(e.message.as_deref(), Some("ForwardTo: x@evil.example"));
        assert_eq!(e.status_id, StatusId::Success);

        let e = ok(
            r#"{"CreationTime":"2026-01-05T12:00:00","Id":"p","Operation":"Add-MailboxPermission",
            "RecordType":1,"ResultStatus":"True","UserId":"admin@contoso.com","UserType":2,"Workload":"Exchange",
            "Parameters":"-Identity \"ceo\" -User \"dave@contoso.com\" -AccessRights (\"FullAccess\") -InheritanceType All"}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::UserAccessManagement, 1)
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("privilege_grant"));
        assert_eq!(e.privileges, ["FullAccess"]);
        assert_eq!(
            e.user.as_ref().unwrap().uid.as_deref(),
            Some("dave@contoso.com")
        );
        assert_eq!(e.entity.as_ref().unwrap().name.as_deref(), Some("ceo"));

        let e = ok(
            r#"{"CreationTime":"2026-01-05T12:00:00","Id":"x","Operation":"Set-Mailbox",
            "RecordType":"1","ResultStatus":"False","UserId":"NT AUTHORITY\\SYSTEM (w3wp)","UserType":"0","Workload":"Exchange"}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::EntityManagement, 3)
        );
        assert_eq!(e.status_id, StatusId::Failure);
        assert_eq!(
            e.actor.user.as_ref().unwrap().kind(),
            Some(IdentityKind::ServiceAccount)
        );
    }

    #[test]
    fn exports_alerts_copilot_and_unknown() {
        let e = ok(
            r#"{"CreationTime":"2026-01-05T13:00:00","Id":"x","Operation":"ExportReport",
            "RecordType":20,"UserId":"fin@contoso.com","Workload":"PowerBI","ItemName":"Payroll",
            "ReportId":"rep-1","UserAgent":"Mozilla"}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::WebResourcesActivity, 7)
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("export"));
        assert_eq!(e.web_resources[0].name.as_deref(), Some("Payroll"));
        assert_eq!(e.app_domain(), Some("app.powerbi.com"));

        let e = ok(
            r#"{"CreationTime":"2026-01-05T13:00:00","Id":"se","Operation":"SearchExported",
            "RecordType":18,"UserId":"legal@contoso.com","Workload":"SecurityComplianceCenter"}"#,
        );
        assert_eq!(
            (e.activity_id, e.midwatch.action.as_deref()),
            (7, Some("export"))
        );

        let e = ok(
            r#"{"CreationTime":"2026-01-05T13:00:00","Id":"a","Operation":"AlertTriggered",
            "RecordType":40,"UserId":"SecurityComplianceAlerts","UserType":4,"Workload":"SecurityComplianceCenter",
            "Name":"Suspicious email forwarding","Severity":"High","AlertId":"al-1","EntityType":"User",
            "AlertEntityId":"dave@contoso.com","ResultStatus":"Succeeded"}"#,
        );
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::ApiActivity, 99));
        assert_eq!(e.severity_id, 4);
        assert_eq!(e.metadata.event_code.as_deref(), Some("AlertTriggered"));
        assert_eq!(
            e.actor.user.as_ref().unwrap().kind(),
            Some(IdentityKind::ServiceAccount)
        );
        assert_eq!(
            e.user.as_ref().unwrap().uid.as_deref(),
            Some("dave@contoso.com")
        );

        let e = ok(
            r#"{"CreationTime":"2023-12-13T17:12:36","Id":"c","Operation":"CopilotInteraction",
            "RecordType":261,"UserId":"admin@contoso.com","UserType":0,"Workload":"Copilot","ClientIP":"::ffff:10.11.0.229",
            "CopilotEventData":{"AppHost":"bizchat","Contexts":[{"Id":"https://contoso.sharepoint.com/a.docx?x=1","Type":"docx"}],
            "AccessedResources":[{"Id":"r1","Name":"Budget.xlsx","Type":"xlsx"}],"ThreadId":"19:t@thread.v2"}}"#,
        );
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::ApiActivity, 99));
        assert_eq!(e.midwatch.action.as_deref(), Some("api_call"));
        assert_eq!(e.src_ip(), Some("10.11.0.229"));
        assert_eq!(e.actor.app_name.as_deref(), Some("Copilot (bizchat)"));
        let api = e.api.as_ref().unwrap();
        assert_eq!(api.operation.as_deref(), Some("CopilotInteraction"));
        assert_eq!(
            api.service.as_ref().unwrap().name.as_deref(),
            Some("bizchat")
        );
        assert_eq!(
            e.web_resources[0].url_string.as_deref(),
            Some("https://contoso.sharepoint.com/a.docx")
        );
        assert_eq!(e.app_domain(), Some("m365.cloud.microsoft"));

        let e = ok(
            r#"{"CreationTime":"2026-01-05T13:00:00","Operation":"SomethingNew","Workload":"Sway"}"#,
        );
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::ApiActivity, 99));
        assert!(e.metadata.uid.starts_with("m365:"));
        let e = ok(
            r#"{"CreationTime":"2026-01-05T13:00:00","Operation":"CreateArtifact","Workload":"PowerBI","ResultStatus":"InProgress"}"#,
        );
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::ApiActivity, 1));
        assert_eq!(e.status_id, StatusId::Unknown);
        assert_eq!(e.status_detail.as_deref(), Some("InProgress"));
    }

    #[test]
    fn entra_directory_changes() {
        let e = ok(
            r#"{"CreationTime":"2026-01-05T14:00:00","Id":"r","Operation":"Add member to role.",
            "RecordType":8,"ResultStatus":"Success","UserId":"admin@contoso.com","UserType":2,"Workload":"AzureActiveDirectory",
            "ModifiedProperties":[{"Name":"Role.DisplayName","NewValue":"Global Administrator","OldValue":""}],
            "Target":[{"ID":"User_1","Type":2},{"ID":"dave@contoso.com","Type":5}]}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::UserAccessManagement, 3)
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("role_assign"));
        assert_eq!(e.privileges, ["Global Administrator"]);
        assert_eq!(
            e.user.as_ref().unwrap().uid.as_deref(),
            Some("dave@contoso.com")
        );

        let e = ok(
            r#"{"CreationTime":"2026-01-05T14:00:00","Id":"c","Operation":"Consent to application.",
            "RecordType":8,"ResultStatus":"Success","UserId":"dave@contoso.com","UserType":0,"Workload":"AzureActiveDirectory",
            "ModifiedProperties":[{"Name":"ConsentAction.Permissions","NewValue":"[] => [[Id: x, ClientId: c, Scope: Mail.Read offline_access, CreatedDateTime: ]]; "}],
            "Target":[{"ID":"ServicePrincipal_9","Type":2},{"ID":"Shady App","Type":1}]}"#,
        );
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::EntityManagement, 1)
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("oauth_consent"));
        let ent = e.entity.as_ref().unwrap();
        assert_eq!(ent.type_name.as_deref(), Some("oauth_grant"));
        assert_eq!(ent.name.as_deref(), Some("Shady App"));
        assert_eq!(ent.scopes, ["Mail.Read", "offline_access"]);
    }

    #[test]
    fn quirks_nulls_strings_numbers() {
        let e = ok(
            r#"{"CreationTime":"2026-01-05T09:00:00Z","Id":null,"Operation":"FileAccessed","RecordType":"6",
            "UserId":"null","UserKey":12345,"UserType":"5","Workload":"SharePoint","ClientIP":"localhost:80",
            "AppAccessContext":null,"ExtendedProperties":"garbage","Parameters":42,"ModifiedProperties":["HtmlBody"],
            "Item":[1,2],"Folders":"nope","DeviceProperties":{"OS":"MacOs"},"Message":{"a":1}}"#,
        );
        assert_eq!(e.actor_uid(), Some("12345"));
        assert_eq!(
            e.actor.user.as_ref().unwrap().kind(),
            Some(IdentityKind::ServiceAccount)
        );
        assert_eq!(e.src_ip(), None);
        assert_eq!(e.device.as_ref().unwrap().os_name.as_deref(), Some("MacOs"));
        assert_eq!(e.app_domain(), Some("sharepoint.com"));
        assert!(e.metadata.uid.starts_with("m365:"));
        // US-style times.
        let e = ok(r#"{"CreationTime":"9/30/2024 6:16:41 PM","Operation":"X"}"#);
        assert_eq!(
            midwatch_model::timefmt::format_ms(e.time),
            "2024-09-30T18:16:41.000Z"
        );
        // No Operation: the record type names the event.
        let e = ok(r#"{"CreationTime":"2020-02-28T09:42:45","RecordType":1}"#);
        assert_eq!(e.metadata.event_code.as_deref(), Some("ExchangeAdmin"));
        assert_eq!(e.app_domain(), Some("outlook.office365.com"));
    }

    #[test]
    fn client_ip_forms() {
        for (raw, want) in [
            ("[10.11.12.13]:12345", Some("10.11.12.13")),
            ("10.11.12.13:12345", Some("10.11.12.13")),
            ("10.11.12.13", Some("10.11.12.13")),
            ("::ffff:10.11.12.13", Some("10.11.12.13")),
            ("[::ffff:10.11.12.13]:12345", Some("10.11.12.13")),
            ("[2001:db8::abcd]:12345", Some("2001:db8::abcd")),
            ("2001:DB8::ABCD", Some("2001:db8::abcd")),
            ("[2001:db8::abcd]", Some("2001:db8::abcd")),
            ("localhost", None),
            ("[localhost]:12345", None),
            ("cool.client.local:12345", None),
            ("NOTANIPV4 (10.9000.0.1)", None),
            ("10.900.0.1", None),
            ("::", None),
            ("[", None),
            ("1.2.3.4:", None),
        ] {
            assert_eq!(normalize_ip(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn command_line_parameters() {
        let p = parse_command_line(
            r#"-Name "foo" -Description "" -HoldNames () -Force "True" -ExchangeLocation ("All","x") -Switch -Page 1 junk -Q:"v w""#,
        );
        let get = |n: &str| nv(&p, n);
        assert_eq!(get("Name"), Some("foo"));
        assert_eq!(get("Description"), None);
        assert_eq!(get("ExchangeLocation"), Some("All,x"));
        assert_eq!(get("Switch"), None);
        assert_eq!(get("Page"), Some("1"));
        assert_eq!(get("Q"), Some("v w"));
        // Unterminated input never panics.
        for s in ["-", "-a \"", "-a (", "-a ((\"x)", "--", "- -"] {
            let _ = parse_command_line(s);
        }
    }

    #[test]
    fn rejections_name_the_field() {
        let cases = [
            (r#"{"Operation":"X"}"#, "`CreationTime`: missing"),
            (r#"{"Platform":1}"#, "`CreationTime`: missing"),
            (
                r#"{"CreationTime":"yesterday","Operation":"X"}"#,
                "`CreationTime`: `yesterday` is not a time",
            ),
            (
                r#"{"CreationTime":"2026-01-05T09:00:00"}"#,
                "`Operation`: missing",
            ),
            (
                r#"{"CreationTime":"2026-01-05T09:00:00","Operation":"X","Id":"a","Id":"b"}"#,
                "`Id`: appears more than once",
            ),
            (r#"["a","2026-01-05T09:00:00"]"#, "must be a JSON object"),
            (
                r#"{"CreationTime": "x", "UserId": "NT AUTHORITY\SYSTEM"}"#,
                "not valid JSON",
            ),
            ("", "not valid JSON"),
        ];
        for (input, want) in cases {
            let err = parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}\n  got: {err}\n want: {want}");
        }
    }
}
