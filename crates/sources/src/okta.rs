//! Okta System Log: one `LogEvent` object per record (the `/api/v1/logs` API, log streaming
//! and Event Hooks all carry the same object) into one OCSF event.
//!
//! What is read, and where it goes:
//! - `uuid` → `metadata.uid` (and `original_event_uid`), `published` → `time` (a record
//!   without a usable `published` is rejected naming that field), `eventType` →
//!   `metadata.event_code` (required), `displayMessage` → `message`, `severity` →
//!   `severity_id`, `outcome.result`/`reason` → `status`/`status_detail` (SUCCESS and ALLOW
//!   succeed, FAILURE and DENY fail, CHALLENGE and UNKNOWN stay unknown).
//! - `actor` → `actor.user`: uid is `alternateId` (the login e-mail for people) else `id`;
//!   `User` actors are humans, every other actor type (`SystemPrincipal`, `PublicClientApp`,
//!   `AppInstance`, …) a service account. When `debugData.originalPrincipal` names someone
//!   else (impersonation by an admin or Okta support), that principal is the actor and the
//!   Okta actor becomes `actor.on_behalf_of`.
//! - Session: `actor.session.uid` is `authenticationContext.externalSessionId`. Okta's root
//!   session id (`authenticationContext.rootSessionId` or `debugData.rootSessionId`) ties
//!   the sessions a sign-in spawns; it is the session uid only when the external id is
//!   absent, so one session never gets two keys, and when both are present and differ it is
//!   kept as the label `root_session:<id>` in `metadata.labels`. An API token behind the
//!   request (`transaction.detail.rootApiTokenId`, else `requestApiTokenId`; identifiers,
//!   not secrets) becomes `credential_uid` as `sha256:<hex>` of the identifier, the same
//!   fingerprint `system.api_token.create` puts in `entity.uid`, so a token's creation and
//!   its use meet.
//! - `client.ipAddress` (else the first `request.ipChain` entry), `client.geographicalContext`
//!   (city, country as Okta spells it — a full name, lat/lon) and `securityContext` (AS
//!   number and organisation, ISP) → `src_endpoint`; `securityContext.isProxy` → label
//!   `proxy`; an Okta risk level of MEDIUM or HIGH (`debugData.risk` `{level=HIGH}` or the
//!   JSON-in-a-string `logOnlySecurityData`) → label `risk:medium`/`risk:high`;
//!   `debugData.threatSuspected` → label `threat_suspected`.
//! - `debugData.dtHash` (the device token hash), else the registered `device.id` →
//!   `device.uid`; `device.managed` → `is_managed`; the user agent's OS → `os_name`.
//!   `debugData.deviceFingerprint` is not used: it is missing from many events and known to
//!   be unreliable, and mixing it with `dtHash` in one session would look like a new device.
//! - `client.userAgent.rawUserAgent` → `http_request.user_agent`; `debugData.requestUri`
//!   (else `url`) with its query string removed → `http_request.url.path`.
//! - Targets: the first `User` target is `user` (for sign-ins and account changes without
//!   one, the actor);
//!   the first `AppInstance` is `dst_endpoint.svc_name`; groups, apps and admin roles
//!   granted are `privileges` (`group:<name>`, `app:<name>`, the role name).
//!
//! Event types map to:
//! - sign-in (`user.session.start`, `user.authentication.sso`, `user.authentication.auth_via_*`,
//!   admin console access) → Authentication logon, `login`, with `auth_protocol` from the
//!   credential type (PASSWORD → password, ASSERTION/IWA or a federated provider → sso,
//!   OAUTH2/JWT → token, EMAIL → magic_link; an Okta sign-in that names none is the SSO
//!   sign-in, `sso`);
//! - sign-out, expiry, `user.session.clear` → logoff (`logout`, `session_expired`,
//!   `session_revoked`); an admin clearing someone else's sessions gets no session
//!   reference, so the admin's own session stays open;
//! - MFA verification, push denial and factor challenges sent
//!   (`system.push.send_factor_verify_push`, …) → Authentication "MFA Challenge",
//!   `mfa_challenge`; a challenge only sent, or demanded by a CHALLENGE policy result, has
//!   status unknown so it never counts as a step-up; a `user.authentication.verify` with no
//!   second factor in sight is Authentication "Other" with `is_mfa` false;
//! - `policy.evaluate_sign_on` ALLOW/DENY → Web Resource Access grant/deny (`access_denied`):
//!   it is an access decision, not a sign-in;
//! - `user.account.*`, `user.lifecycle.*`, `user.mfa.factor.*` → Account Change;
//! - group and app membership, admin role grants → User Access Management;
//! - OAuth consent and token grants/revocations, API tokens, configuration objects →
//!   Entity Management; imports and provisioning → API Activity;
//! - any other event type is still an event: API Activity "Other" with the event type as
//!   `event_code` and `api.operation`.
//!
//! Vendor quirks handled: `"null"` and `"unknown"` strings for absent values, `null` or
//! wrongly-typed objects anywhere (read as absent, never a rejection), numbers as strings,
//! JSON-in-a-string security data, `\u0026`-style escapes, impossible dates such as
//! `2017-09-31`.
//!
//! The hot path parses the record with simd-json into a tape (`crate::tape`) and reads the
//! fields it needs from there into borrowed typed structs (no `serde_json::Value`); the
//! lazy one-pass reader (`crate::scan`) reads, through the same readers, the few records
//! simd-json would read differently (see `crate::tape`), and decides what is not JSON.
//! Either way nothing is recursed into that is not read, and only what the event keeps is
//! allocated.
//!
//! Broken input: a record is rejected only when it is not JSON (serde_json's description of
//! the fault is the reason) or names no usable `eventType`/`published`. Within JSON:
//! - bytes that are not UTF-8 and lone UTF-16 surrogate escapes (`\ud800`) read as U+FFFD
//!   in the fields midwatch reads, and are not looked at anywhere else;
//! - a number beyond the range of an `f64` (`1e999`) reads as absent in a field midwatch
//!   reads, and is not looked at anywhere else;
//! - nesting of any depth is accepted where midwatch does not read; `risk` objects inside
//!   `risk` objects are looked into eight levels deep.
//!
//! The raw record is never altered: these readings are the event's, the bytes are kept as
//! they came.

use crate::scan::{Kind as ValueKind, Number, Reader, Scalar, Str, Syntax, Values};
use crate::{ParseError, Parsed, RecordCtx, Source, derived_uid};
use midwatch_model::event::{
    Api, ApiService, AuthFactor, AutonomousSystem, Device, DstEndpoint, Entity, HttpRequest,
    Location, ProductRef, SessionRef, SrcEndpoint, Url, User,
};
use midwatch_model::hash::token_fingerprint;
use midwatch_model::{ClassUid, Event, IdentityKind, StatusId};
use std::borrow::Cow;
use std::marker::PhantomData;

/// The Okta System Log source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Okta;

const NAME: &str = "okta";

impl Source for Okta {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse(&self, raw: &[u8], _ctx: RecordCtx) -> Result<Parsed, ParseError> {
        let mut events = Vec::with_capacity(1);
        parse_into(raw, &mut events)?;
        Ok(Parsed::Events(events))
    }

    fn parse_into(
        &self,
        raw: &[u8],
        _ctx: RecordCtx,
        events: &mut Vec<Event>,
    ) -> Result<Option<String>, ParseError> {
        parse_into(raw, events)?;
        Ok(None)
    }
}

/// Append the event of one record to `events` (built where it stays, not moved there);
/// on error nothing is appended.
fn parse_into(raw: &[u8], events: &mut Vec<Event>) -> Result<(), ParseError> {
    // The fast way first; a record it cannot read as the lazy reader would goes the lazy
    // way, which also has the last word on what is not JSON.
    match parse_fast(raw, events) {
        Some(done) => done,
        None => parse_lazy(raw, events),
    }
}

/// The event of `raw` read from a simd-json tape, appended to `events`; `None` when the
/// record must be read the lazy way (`crate::tape` says when).
fn parse_fast(raw: &[u8], events: &mut Vec<Event>) -> Option<Result<(), ParseError>> {
    let read = crate::tape::with_tape(raw, |tape| {
        if tape.kind()? != ValueKind::Object {
            return Err(Syntax(0));
        }
        let mut record = Record::default();
        record.read_into(tape)?;
        tape.end()?;
        Ok(to_event(&mut record, raw, events))
    });
    read?.ok()
}

/// The event of `raw` read by the lazy reader, appended to `events`.
fn parse_lazy(raw: &[u8], events: &mut Vec<Event>) -> Result<(), ParseError> {
    let mut reader = Reader::new(raw);
    let mut record = Record::default();
    let read = match reader.peek() {
        Ok(b'{') => record.read_into(&mut reader).and_then(|()| reader.end()),
        _ => return Err(not_an_object(raw)),
    };
    match read {
        Ok(()) => to_event(&mut record, raw, events),
        Err(Syntax(at)) => Err(json_error(raw, at)),
    }
}

// ---------------------------------------------------------------------------------------
// Parsing. The record is read in one pass by the lazy reader (`crate::scan`): the fields
// midwatch reads are decoded as their keys come, everything else is stepped over with its
// grammar checked and nothing decoded, so an unknown subtree costs little however large
// or deep it is, and no reader recurses into data it does not know.

/// Why `raw` is not JSON. The reader names a byte offset only, so the reason is
/// serde_json's (line, column and what was expected); the two agree on what is JSON.
fn json_error(raw: &[u8], at: usize) -> ParseError {
    match serde_json::from_slice::<serde::de::IgnoredAny>(raw) {
        Err(e) => ParseError::record(format!("not valid JSON: {e}")),
        Ok(_) => ParseError::record(format!("not valid JSON: malformed at byte {at}")),
    }
}

/// The rejection of a record that does not start as an object: what it is instead, or
/// why it is not JSON.
fn not_an_object(raw: &[u8]) -> ParseError {
    let mut reader = Reader::new(raw);
    let kind = match reader.peek() {
        Ok(b'[') => "a JSON array",
        Ok(b'"') => "a JSON string",
        Ok(b'n') => "null",
        Ok(b't' | b'f') => "a JSON boolean",
        _ => "a JSON number",
    };
    match reader.skip().and_then(|()| reader.end()) {
        Ok(()) => ParseError::record(format!("not an Okta LogEvent object: the record is {kind}")),
        Err(Syntax(at)) => json_error(raw, at),
    }
}

// ---------------------------------------------------------------------------------------
// Lenient readers. Every field is read through one of these so that a vendor value of the
// wrong type reads as absent instead of failing the record; strings are borrowed from the
// record unless they carry escapes. Only a record that is not JSON fails.

/// A field read from the value at the reader, which it takes.
trait Field<'a>: Default {
    fn read<V: Values<'a>>(reader: &mut V) -> Result<Self, Syntax>;

    /// Read the value at the reader into `self`, replacing what it held (objects are read
    /// in place rather than built and moved up).
    fn read_into<V: Values<'a>>(&mut self, reader: &mut V) -> Result<(), Syntax> {
        *self = Self::read(reader)?;
        Ok(())
    }
}

/// True for the strings vendors use for "no value".
#[inline]
fn is_placeholder(s: &str) -> bool {
    let b = s.as_bytes();
    // Most values are longer than any placeholder and carry no padding: decide on sight.
    if b.len() > 4
        && !b.first().is_some_and(u8::is_ascii_whitespace)
        && !b.last().is_some_and(u8::is_ascii_whitespace)
    {
        return false;
    }
    let t = s.trim();
    t.is_empty() || t.eq_ignore_ascii_case("null") || t == "-" || t.eq_ignore_ascii_case("none")
}

/// A string from a string, number or boolean; absent for null, placeholders, objects and
/// arrays. Borrowed from the parsed record.
#[derive(Debug, Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl Text<'_> {
    fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The value unless it is Okta's `unknown` filler.
    fn known(&self) -> Option<&str> {
        self.get().filter(|s| !s.eq_ignore_ascii_case("unknown"))
    }

    fn take(&mut self) -> Option<String> {
        self.0.take().map(Cow::into_owned)
    }

    fn take_known(&mut self) -> Option<String> {
        if self.known().is_some() {
            self.take()
        } else {
            None
        }
    }
}

impl<'a> Field<'a> for Text<'a> {
    fn read<V: Values<'a>>(reader: &mut V) -> Result<Self, Syntax> {
        Ok(Text(match reader.scalar()? {
            // Decoded by the tape parser: borrowed as it is.
            Scalar::Str(Str::Decoded(s)) => (!is_placeholder(s)).then_some(Cow::Borrowed(s)),
            Scalar::Str(raw) => Some(raw.text()).filter(|t| !is_placeholder(t)),
            Scalar::Number(Number::U64(n)) => Some(Cow::Owned(n.to_string())),
            Scalar::Number(Number::I64(n)) => Some(Cow::Owned(n.to_string())),
            Scalar::Number(Number::F64(n)) => Some(Cow::Owned(n.to_string())),
            Scalar::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Scalar::Number(Number::OutOfRange) | Scalar::Null | Scalar::Skipped => None,
        }))
    }
}

/// Declares a lenient scalar reader `$name(Option<$ty>)`: numbers, booleans and text go
/// through the given conversions; null, arrays and objects read as absent.
macro_rules! scalar_reader {
    ($(#[$meta:meta])* $name:ident($ty:ty) {
        u64: $num_u:expr, i64: $num_i:expr, f64: $num_f:expr, bool: $boolean:expr, str: $parse:expr,
    }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Clone, Copy)]
        struct $name(Option<$ty>);

        impl<'a> Field<'a> for $name {
            fn read<V: Values<'a>>(reader: &mut V) -> Result<Self, Syntax> {
                let from_u64: fn(u64) -> Option<$ty> = $num_u;
                let from_i64: fn(i64) -> Option<$ty> = $num_i;
                let from_f64: fn(f64) -> Option<$ty> = $num_f;
                let from_bool: fn(bool) -> Option<$ty> = $boolean;
                let from_str: fn(&str) -> Option<$ty> = $parse;
                Ok($name(match reader.scalar()? {
                    Scalar::Number(Number::U64(v)) => from_u64(v),
                    Scalar::Number(Number::I64(v)) => from_i64(v),
                    Scalar::Number(Number::F64(v)) => from_f64(v),
                    Scalar::Bool(v) => from_bool(v),
                    Scalar::Str(raw) => from_str(raw.text().trim()),
                    Scalar::Number(Number::OutOfRange) | Scalar::Null | Scalar::Skipped => None,
                }))
            }
        }
    };
}

#[expect(clippy::cast_precision_loss, reason = "coordinates")]
fn u64_to_f64(v: u64) -> Option<f64> {
    Some(v as f64)
}

#[expect(clippy::cast_precision_loss, reason = "coordinates")]
fn i64_to_f64(v: i64) -> Option<f64> {
    Some(v as f64)
}

fn f64_to_u32(v: f64) -> Option<u32> {
    if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "range checked"
        )]
        Some(v as u32)
    } else {
        None
    }
}

/// An AS number as text: `64500` or `AS64500`.
fn parse_asn(s: &str) -> Option<u32> {
    let t = s
        .strip_prefix("AS")
        .or_else(|| s.strip_prefix("as"))
        .unwrap_or(s);
    t.parse().ok()
}

fn int_flag<T: TryInto<u8>>(v: T) -> Option<bool> {
    match v.try_into().ok()? {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

fn parse_flag(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") || s == "1" || s.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" || s.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

scalar_reader! {
    /// A finite number, from a number or numeric text.
    Num(f64) {
        u64: u64_to_f64,
        i64: i64_to_f64,
        f64: |v| v.is_finite().then_some(v),
        bool: |_| None,
        str: |s| s.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

scalar_reader! {
    /// An AS number, from a number, `"64500"` or `"AS64500"`.
    Asn(u32) {
        u64: |v| u32::try_from(v).ok(),
        i64: |v| u32::try_from(v).ok(),
        f64: f64_to_u32,
        bool: |_| None,
        str: parse_asn,
    }
}

scalar_reader! {
    /// A boolean, from a boolean, 0/1, or `true`/`false`/`yes`/`no` text.
    Flag(bool) {
        u64: int_flag,
        i64: int_flag,
        f64: |_| None,
        bool: Some,
        str: parse_flag,
    }
}

/// A nested object read as `T`, or absent when the value is not an object (`null`,
/// `"null"`, a number, an array).
#[derive(Debug)]
struct Obj<T>(Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

impl<'a, T: Field<'a>> Field<'a> for Obj<T> {
    fn read<V: Values<'a>>(reader: &mut V) -> Result<Self, Syntax> {
        let mut out = Obj(None);
        out.read_into(reader)?;
        Ok(out)
    }

    fn read_into<V: Values<'a>>(&mut self, reader: &mut V) -> Result<(), Syntax> {
        if reader.kind()? == ValueKind::Object {
            self.0.insert(T::default()).read_into(reader)
        } else {
            self.0 = None;
            reader.skip()
        }
    }
}

/// A list of objects; items that are not objects are dropped, and a lone object reads as
/// a list of one.
#[derive(Debug)]
struct List<T>(Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'a, T: Field<'a>> Field<'a> for List<T> {
    fn read<V: Values<'a>>(reader: &mut V) -> Result<Self, Syntax> {
        let mut out = List::default();
        out.read_into(reader)?;
        Ok(out)
    }

    fn read_into<V: Values<'a>>(&mut self, reader: &mut V) -> Result<(), Syntax> {
        let list = &mut self.0;
        list.clear();
        match reader.kind()? {
            ValueKind::Array => reader.items(|r| {
                if r.kind()? == ValueKind::Object {
                    list.push(T::default());
                    if let Some(item) = list.last_mut() {
                        item.read_into(r)?;
                    }
                    Ok(())
                } else {
                    r.skip()
                }
            }),
            ValueKind::Object => {
                list.push(T::default());
                match list.last_mut() {
                    Some(item) => item.read_into(reader),
                    None => reader.skip(),
                }
            }
            ValueKind::Scalar => reader.skip(),
        }
    }
}

/// The first object of a list (or a lone object); the rest is not read.
#[derive(Debug)]
struct First<T>(Option<T>);

impl<T> Default for First<T> {
    fn default() -> Self {
        First(None)
    }
}

impl<'a, T: Field<'a>> Field<'a> for First<T> {
    fn read<V: Values<'a>>(reader: &mut V) -> Result<Self, Syntax> {
        let mut out = First(None);
        out.read_into(reader)?;
        Ok(out)
    }

    fn read_into<V: Values<'a>>(&mut self, reader: &mut V) -> Result<(), Syntax> {
        let first = &mut self.0;
        *first = None;
        match reader.kind()? {
            ValueKind::Array => {
                let mut seen = false;
                reader.items(|r| {
                    if seen {
                        r.skip()
                    } else {
                        seen = true;
                        if r.kind()? == ValueKind::Object {
                            first.insert(T::default()).read_into(r)
                        } else {
                            r.skip()
                        }
                    }
                })
            }
            ValueKind::Object => first.insert(T::default()).read_into(reader),
            ValueKind::Scalar => reader.skip(),
        }
    }
}

/// Okta's risk level, read from `{level=HIGH}` text, JSON text holding
/// `{"risk":{"level":"HIGH"}}` (`logOnlySecurityData`), or the same as a real object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Risk {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl Risk {
    /// How deep `risk` objects are looked into, so that hostile nesting costs nothing.
    const MAX_DEPTH: usize = 8;

    fn from_word(w: &str) -> Risk {
        if w.eq_ignore_ascii_case("high") {
            Risk::High
        } else if w.eq_ignore_ascii_case("medium") {
            Risk::Medium
        } else if w.eq_ignore_ascii_case("low") {
            Risk::Low
        } else {
            Risk::None
        }
    }

    /// Find `level` followed by `=`, `:`, quotes or spaces and a word, without parsing.
    fn scan(text: &str) -> Risk {
        let mut rest = text;
        while let Some(i) = rest.find("level") {
            let after = rest.get(i + 5..).unwrap_or("");
            let value = after.trim_start_matches(['"', '\'', '=', ':', ' ', '\\']);
            if value.len() < after.len() {
                let end = value
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(value.len());
                let r = Risk::from_word(value.get(..end).unwrap_or(""));
                if r != Risk::None {
                    return r;
                }
            }
            rest = after;
        }
        Risk::None
    }

    fn label(self) -> Option<&'static str> {
        match self {
            Risk::High => Some("risk:high"),
            Risk::Medium => Some("risk:medium"),
            Risk::Low | Risk::None => None,
        }
    }

    /// The highest level in the value at the reader, looking at most `depth` more `risk`
    /// objects down (deeper ones are skipped unread).
    fn read_within<'a, V: Values<'a>>(reader: &mut V, depth: usize) -> Result<Risk, Syntax> {
        match reader.kind()? {
            ValueKind::Object => {
                let mut found = Risk::None;
                reader.members(|r, key| {
                    match key {
                        b"risk" if depth > 0 => found = found.max(Risk::read_within(r, depth - 1)?),
                        b"level" => {
                            let t = Text::read(r)?;
                            found = found.max(Risk::from_word(t.get().unwrap_or("")));
                        }
                        _ => r.skip()?,
                    }
                    Ok(())
                })?;
                Ok(found)
            }
            _ => Ok(match reader.scalar()? {
                Scalar::Str(raw) => Risk::scan(&raw.text()),
                _ => Risk::None,
            }),
        }
    }
}

impl<'a> Field<'a> for Risk {
    fn read<V: Values<'a>>(reader: &mut V) -> Result<Self, Syntax> {
        Risk::read_within(reader, Risk::MAX_DEPTH)
    }
}

// ---------------------------------------------------------------------------------------
// The LogEvent, as far as midwatch reads it.
//
// Each object's members are matched by key in one pass; unknown keys are stepped over, and
// a repeated key keeps its last value instead of failing the record.

/// Declares an Okta object struct whose fields are read from the listed JSON keys, each
/// through its own lenient reader; every other key is skipped.
macro_rules! okta_object {
    ($(#[$meta:meta])* struct $name:ident<$lt:lifetime> {
        $($(#[$fmeta:meta])* $key:literal => $field:ident: $ty:ty,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        struct $name<$lt> {
            $($(#[$fmeta])* $field: $ty,)*
            _borrow: PhantomData<&$lt ()>,
        }

        impl<$lt> Field<$lt> for $name<$lt> {
            fn read<V: Values<$lt>>(reader: &mut V) -> Result<Self, Syntax> {
                let mut out = $name::default();
                out.read_into(reader)?;
                Ok(out)
            }

            fn read_into<V: Values<$lt>>(&mut self, reader: &mut V) -> Result<(), Syntax> {
                reader.members(|r, key| {
                    match key {
                        $($key => self.$field.read_into(r)?,)*
                        _ => r.skip()?,
                    }
                    Ok(())
                })
            }
        }
    };
}

okta_object! {
    /// One LogEvent.
    struct Record<'a> {
        b"uuid" => uuid: Text<'a>,
        b"published" => published: Text<'a>,
        b"eventType" => event_type: Text<'a>,
        b"displayMessage" => display_message: Text<'a>,
        b"severity" => severity: Text<'a>,
        b"actor" => actor: Obj<Principal<'a>>,
        b"client" => client: Obj<Client<'a>>,
        b"device" => device: Obj<OktaDevice<'a>>,
        b"authenticationContext" => auth: Obj<AuthContext<'a>>,
        b"securityContext" => security: Obj<SecurityContext<'a>>,
        b"debugContext" => debug: Obj<DebugContext<'a>>,
        b"outcome" => outcome: Obj<Outcome<'a>>,
        b"target" => target: List<Principal<'a>>,
        b"transaction" => transaction: Obj<Transaction<'a>>,
        b"request" => request: Obj<Request<'a>>,
    }
}

okta_object! {
    /// An actor or target.
    struct Principal<'a> {
        b"id" => id: Text<'a>,
        b"type" => kind: Text<'a>,
        b"alternateId" => alternate_id: Text<'a>,
        b"displayName" => display_name: Text<'a>,
    }
}

okta_object! {
    struct Client<'a> {
        b"ipAddress" => ip_address: Text<'a>,
        b"userAgent" => user_agent: Obj<UserAgent<'a>>,
        b"geographicalContext" => geo: Obj<Geo<'a>>,
        /// The OAuth client id of the request, when there is one.
        b"id" => id: Text<'a>,
    }
}

okta_object! {
    struct UserAgent<'a> {
        b"rawUserAgent" => raw: Text<'a>,
        b"os" => os: Text<'a>,
    }
}

okta_object! {
    struct Geo<'a> {
        b"city" => city: Text<'a>,
        b"country" => country: Text<'a>,
        b"geolocation" => geolocation: Obj<GeoPoint<'a>>,
    }
}

okta_object! {
    struct GeoPoint<'a> {
        b"lat" => lat: Num,
        b"lon" => lon: Num,
    }
}

okta_object! {
    /// The top-level `device` of Identity Engine events (a registered device).
    struct OktaDevice<'a> {
        b"id" => id: Text<'a>,
        b"managed" => managed: Flag,
        b"os_platform" => os_platform: Text<'a>,
    }
}

okta_object! {
    struct AuthContext<'a> {
        b"externalSessionId" => external_session_id: Text<'a>,
        b"rootSessionId" => root_session_id: Text<'a>,
        b"credentialType" => credential_type: Text<'a>,
        b"credentialProvider" => credential_provider: Text<'a>,
        b"authenticationProvider" => authentication_provider: Text<'a>,
    }
}

okta_object! {
    struct SecurityContext<'a> {
        b"asNumber" => as_number: Asn,
        b"asOrg" => as_org: Text<'a>,
        b"isp" => isp: Text<'a>,
        b"isProxy" => is_proxy: Flag,
    }
}

okta_object! {
    struct DebugContext<'a> {
        b"debugData" => data: Obj<DebugData<'a>>,
    }
}

okta_object! {
    struct DebugData<'a> {
        b"requestUri" => request_uri: Text<'a>,
        b"url" => url: Text<'a>,
        b"dtHash" => dt_hash: Text<'a>,
        b"factor" => factor: Text<'a>,
        b"rootSessionId" => root_session_id: Text<'a>,
        b"privilegeGranted" => privilege_granted: Text<'a>,
        b"privilegeRevoked" => privilege_revoked: Text<'a>,
        b"grantedScopes" => granted_scopes: Text<'a>,
        b"scopes" => scopes: Text<'a>,
        b"originalPrincipal" => original_principal: Obj<Principal<'a>>,
        b"risk" => risk: Risk,
        b"logOnlySecurityData" => log_only_security_data: Risk,
        b"threatSuspected" => threat_suspected: Flag,
    }
}

okta_object! {
    struct Outcome<'a> {
        b"result" => result: Text<'a>,
        b"reason" => reason: Text<'a>,
    }
}

okta_object! {
    struct Transaction<'a> {
        b"detail" => detail: Obj<TransactionDetail<'a>>,
    }
}

okta_object! {
    struct TransactionDetail<'a> {
        b"rootApiTokenId" => root_api_token_id: Text<'a>,
        b"requestApiTokenId" => request_api_token_id: Text<'a>,
    }
}

okta_object! {
    struct Request<'a> {
        b"ipChain" => ip_chain: First<IpChainEntry<'a>>,
    }
}

okta_object! {
    struct IpChainEntry<'a> {
        b"ip" => ip: Text<'a>,
    }
}

// ---------------------------------------------------------------------------------------
// Time.

/// Epoch milliseconds of `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)`, the form Okta always
/// sends, without the general parser. `None` for any other shape or an impossible date;
/// the caller then tries the general parser, which has the last word.
fn fast_rfc3339_ms(s: &str) -> Option<i64> {
    let [
        y0,
        y1,
        y2,
        y3,
        b'-',
        mo0,
        mo1,
        b'-',
        d0,
        d1,
        b'T' | b't' | b' ',
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
        s0,
        s1,
        rest @ ..,
    ] = s.as_bytes()
    else {
        return None;
    };
    fn digits(ds: &[u8]) -> Option<i64> {
        ds.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    }
    let year = digits(&[*y0, *y1, *y2, *y3])?;
    let month = digits(&[*mo0, *mo1])?;
    let day = digits(&[*d0, *d1])?;
    let hour = digits(&[*h0, *h1])?;
    let minute = digits(&[*mi0, *mi1])?;
    let second = digits(&[*s0, *s1])?;
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > month_days {
        return None;
    }
    let mut rest = rest;
    let mut millis = 0i64;
    if let [b'.', frac @ ..] = rest {
        let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let (digits_part, tail) = frac.split_at(n);
        for (i, d) in digits_part.iter().take(3).enumerate() {
            let scale = [100, 10, 1].get(i).copied().unwrap_or(0);
            millis += i64::from(d - b'0') * scale;
        }
        rest = tail;
    }
    let offset_min = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh0, oh1, b':', om0, om1] => {
            let oh = digits(&[*oh0, *oh1])?;
            let om = digits(&[*om0, *om1])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1_000 + millis)
}

fn parse_published(s: &str) -> Option<i64> {
    fast_rfc3339_ms(s).or_else(|| crate::lenient::parse_time_text(s))
}

/// User input for an error message: at most 64 characters.
fn quoted(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("`{}…`", s.get(..i).unwrap_or(s)),
        None => format!("`{s}`"),
    }
}

// ---------------------------------------------------------------------------------------
// Event types.

/// How an Okta sign-in was made, for `auth_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// From `authenticationContext`; an Okta sign-in that names nothing is the SSO sign-in.
    FromContext,
    Fixed(&'static str),
}

/// What an event type means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Authentication logon, `login`.
    Login(Proto),
    /// `user.authentication.sso`: sign-in to the target app through Okta.
    AppLogin,
    /// `user.session.access_admin_app`.
    AdminAppLogin,
    /// Authentication logoff with this action.
    Logoff(&'static str),
    /// MFA verified or attempted.
    Mfa,
    /// An MFA challenge sent (push, SMS, call, e-mail): the outcome is not known yet.
    MfaSent,
    /// The user refused an MFA challenge or tried to bypass it: a failed MFA challenge.
    MfaRefused,
    /// `user.authentication.verify`: MFA when a factor is evident, else another check.
    Verify,
    /// `policy.evaluate_sign_on`.
    SignOnPolicy,
    /// Account Change with this activity and action.
    Account(u32, Option<&'static str>),
    /// User Access Management with this activity and action; what was granted.
    Access(u32, Option<&'static str>, Granted),
    /// OAuth consent granted or revoked.
    Consent(u32, Option<&'static str>),
    /// OAuth token granted or revoked.
    OauthToken(u32, &'static str),
    /// An Okta API token created, changed or revoked.
    ApiToken(u32, Option<&'static str>),
    /// Another managed object, with its entity type.
    Entity(u32, &'static str),
    /// Access to an app refused.
    Denied,
    /// API Activity with this activity.
    Api(u32),
}

/// Where the granted privilege's name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Granted {
    Group,
    App,
    Role { revoked: bool },
    Impersonation,
}

/// Configuration objects managed through lifecycle events, by event type prefix.
const ENTITY_PREFIXES: &[(&str, &str)] = &[
    ("application.lifecycle.", "application"),
    ("app.oauth2.client.lifecycle.", "oauth_client"),
    (
        "app.oauth2.credentials.lifecycle.",
        "oauth_client_credential",
    ),
    ("app.oauth2.as.lifecycle.", "authorization_server"),
    ("policy.lifecycle.", "policy"),
    ("policy.rule.", "policy_rule"),
    ("zone.", "network_zone"),
    ("network_zone.", "network_zone"),
    ("group.lifecycle.", "group"),
    ("system.idp.lifecycle.", "identity_provider"),
    ("security.authenticator.lifecycle.", "authenticator"),
    ("system.agent.", "agent"),
    ("device.lifecycle.", "device"),
];

/// Entity Management activity for a lifecycle verb.
fn entity_verb(verb: &str) -> u32 {
    match verb {
        "create" | "add" => 1,
        "read" => 2,
        "update" | "update_config" => 3,
        "delete" | "remove" => 4,
        "activate" => 10,
        "deactivate" => 11,
        "suspend" => 12,
        "unsuspend" | "resume" => 13,
        _ => 99,
    }
}

/// API Activity activity for a verb.
fn api_verb(verb: &str) -> u32 {
    match verb {
        "create" | "insert" | "add" => 1,
        "read" | "get" | "list" => 2,
        "update" | "upsert" | "match" => 3,
        "delete" | "remove" => 4,
        _ => 99,
    }
}

fn last_segment(t: &str) -> &str {
    t.rsplit('.').next().unwrap_or(t)
}

fn classify(t: &str) -> Kind {
    use Kind::{
        Access, Account, AdminAppLogin, Api, ApiToken, AppLogin, Consent, Denied, Entity, Login,
        Logoff, Mfa, MfaRefused, MfaSent, OauthToken, SignOnPolicy, Verify,
    };
    match t {
        "user.session.start" => return Login(Proto::FromContext),
        "user.authentication.sso" => return AppLogin,
        "user.session.access_admin_app" => return AdminAppLogin,
        "user.session.impersonation.initiate" => return Login(Proto::Fixed("sso")),
        "user.session.end" | "user.authentication.slo" | "user.session.impersonation.end" => {
            return Logoff("logout");
        }
        "user.session.clear" | "user.session.revoke" => return Logoff("session_revoked"),
        "user.session.expire" => return Logoff("session_expired"),
        "user.session.impersonation.grant" => {
            return Access(1, Some("privilege_grant"), Granted::Impersonation);
        }
        "user.session.impersonation.revoke" => {
            return Access(2, Some("privilege_revoke"), Granted::Impersonation);
        }
        "user.authentication.auth_via_mfa" | "user.authentication.auth_via_mfa_push" => return Mfa,
        "user.authentication.verify" => return Verify,
        "user.authentication.authenticate" | "user.authentication.auth" => {
            return Login(Proto::FromContext);
        }
        "user.mfa.okta_verify.deny_push"
        | "user.mfa.okta_verify.deny_push_upgrade_needed"
        | "user.mfa.attempt_bypass" => return MfaRefused,
        "policy.evaluate_sign_on" => return SignOnPolicy,
        "user.account.update_password" => return Account(3, Some("password_change")),
        "user.account.reset_password" => return Account(4, Some("password_change")),
        "user.account.lock" | "user.account.lock.limit" => return Account(9, None),
        "user.account.unlock" | "user.account.unlock_by_admin" | "user.account.unlock_token" => {
            return Account(12, None);
        }
        "user.account.privilege.grant" | "group.privilege.grant" => {
            return Access(3, Some("role_assign"), Granted::Role { revoked: false });
        }
        "user.account.privilege.revoke" | "group.privilege.revoke" => {
            return Access(4, Some("role_remove"), Granted::Role { revoked: true });
        }
        "user.lifecycle.create" => return Account(1, Some("account_create")),
        "user.lifecycle.activate" | "user.lifecycle.reactivate" | "user.lifecycle.unsuspend" => {
            return Account(2, None);
        }
        "user.lifecycle.deactivate" | "user.lifecycle.suspend" => {
            return Account(5, Some("account_disable"));
        }
        "user.lifecycle.delete.initiated" | "user.lifecycle.delete.completed" => {
            return Account(6, None);
        }
        "user.mfa.factor.activate" => return Account(10, Some("mfa_enroll")),
        "user.mfa.factor.deactivate" | "user.mfa.factor.reset_all" | "user.mfa.factor.suspend" => {
            return Account(11, Some("mfa_remove"));
        }
        "group.user_membership.add" => return Access(1, Some("privilege_grant"), Granted::Group),
        "group.user_membership.remove" => {
            return Access(2, Some("privilege_revoke"), Granted::Group);
        }
        "application.user_membership.add" => {
            return Access(1, Some("privilege_grant"), Granted::App);
        }
        "application.user_membership.remove" => {
            return Access(2, Some("privilege_revoke"), Granted::App);
        }
        "app.oauth2.as.consent.grant"
        | "app.oauth2.consent.grant"
        | "app.oauth2.admin.consent.grant" => return Consent(1, Some("oauth_consent")),
        "system.api_token.create" => return ApiToken(1, Some("token_create")),
        "system.api_token.revoke" => return ApiToken(4, Some("token_revoke")),
        "system.api_token.update" => return ApiToken(3, None),
        "app.generic.unauth_app_access_attempt" => return Denied,
        _ => {}
    }
    if let Some(via) = t.strip_prefix("user.authentication.auth_via_") {
        return Login(Proto::Fixed(match via {
            "IDP" | "social" | "inbound_SAML" | "iwa" | "IWA" => "sso",
            _ => "password",
        }));
    }
    if t.starts_with("system.") && t.contains(".send_factor_verify") {
        return MfaSent;
    }
    if t.starts_with("app.oauth2.as.consent.revoke")
        || t.starts_with("app.oauth2.consent.revoke")
        || t.starts_with("app.oauth2.admin.consent.revoke")
    {
        return Consent(4, None);
    }
    if t.starts_with("app.oauth2.as.token.grant") || t.starts_with("app.oauth2.token.grant") {
        return OauthToken(1, "token_create");
    }
    if t.starts_with("app.oauth2.as.token.revoke") || t.starts_with("app.oauth2.token.revoke") {
        return OauthToken(4, "token_revoke");
    }
    if t.starts_with("user.account.") || t.starts_with("user.lifecycle.") {
        return Account(99, None);
    }
    if t.starts_with("user.mfa.") {
        return Account(99, None);
    }
    if t.starts_with("application.user_membership.") {
        return Access(99, None, Granted::App);
    }
    if t.starts_with("group.user_membership.") {
        return Access(99, None, Granted::Group);
    }
    if let Some(&(prefix, entity)) = ENTITY_PREFIXES.iter().find(|(p, _)| t.starts_with(p)) {
        let verb = t.get(prefix.len()..).map_or("", last_segment);
        return Entity(entity_verb(verb), entity);
    }
    if t.starts_with("system.import.") || t.starts_with("app.user_management") {
        return Api(api_verb(last_segment(t)));
    }
    Api(99)
}

fn status_of(result: Option<&str>) -> StatusId {
    match result {
        None => StatusId::Unknown,
        Some(r) if r.eq_ignore_ascii_case("SUCCESS") || r.eq_ignore_ascii_case("ALLOW") => {
            StatusId::Success
        }
        Some(r)
            if r.eq_ignore_ascii_case("FAILURE")
                || r.eq_ignore_ascii_case("DENY")
                || r.eq_ignore_ascii_case("FAILED") =>
        {
            StatusId::Failure
        }
        Some(r) if r.eq_ignore_ascii_case("CHALLENGE") || r.eq_ignore_ascii_case("UNKNOWN") => {
            StatusId::Unknown
        }
        Some(_) => StatusId::Other,
    }
}

/// The OCSF auth factor caption for an Okta factor or credential type; `None` for
/// passwords, which are not a second factor.
fn factor_caption(f: &str) -> Option<Cow<'static, str>> {
    let c = match f {
        "PASSWORD_AS_FACTOR" | "PASSWORD" | "password" => return None,
        "OKTA_VERIFY_PUSH" | "PUSH" | "push" | "OKTA_VERIFY" => "Push Notification",
        "FIDO_WEBAUTHN" | "WEBAUTHN" | "webauthn" | "U2F" | "FIDO2" | "FIDO" => "WebAuthn",
        "SMS" | "SMS_FACTOR" | "sms" => "SMS",
        "CALL" | "CALL_FACTOR" | "VOICE" | "call" => "Phone Call",
        "EMAIL" | "EMAIL_FACTOR" | "email" => "Email",
        "OTP"
        | "TOTP"
        | "OKTA_VERIFY_TOTP"
        | "GOOGLE_AUTHENTICATOR"
        | "token:software:totp"
        | "OKTA_SOFT_TOKEN" => "TOTP",
        "QUESTION" | "SECURITY_QUESTION" | "question" => "Security Question",
        "SIGNED_NONCE" | "OKTA_VERIFY_SIGNED_NONCE" => "Okta FastPass",
        "HOTP" | "YUBIKEY_TOKEN" | "RSA_TOKEN" | "SYMANTEC_VIP" | "token:hardware"
        | "token:hotp" => "Hardware Token",
        "DUO" | "DUO_SECURITY" => "Duo",
        other => return Some(Cow::Owned(other.to_string())),
    };
    Some(Cow::Borrowed(c))
}

/// `auth_protocol` for an Okta sign-in from its authentication context.
fn context_protocol(ctx: Option<&AuthContext<'_>>) -> &'static str {
    let Some(ctx) = ctx else { return "sso" };
    if let Some(p) = ctx.authentication_provider.get()
        && (p.eq_ignore_ascii_case("FEDERATION") || p.eq_ignore_ascii_case("SOCIAL"))
    {
        return "sso";
    }
    match ctx.credential_type.get() {
        Some("PASSWORD") => "password",
        Some("ASSERTION" | "IWA" | "SAML") => "sso",
        Some("OAUTH2" | "JWT" | "ACCESS_TOKEN") => "token",
        Some("EMAIL" | "EMAIL_LINK" | "MAGIC_LINK") => "magic_link",
        Some("CERTIFICATE" | "X509" | "PIV") => "certificate",
        Some("FIDO2" | "WEBAUTHN" | "PASSKEY") => "passkey",
        Some("API_TOKEN") => "api_key",
        _ => "sso",
    }
}

fn is_email(s: &str) -> bool {
    s.contains('@')
}

/// An Okta principal as an OCSF user: uid is the login (`alternateId`) else the id.
fn to_user(p: &mut Principal<'_>) -> Option<User> {
    let kind = match p.kind.get() {
        None | Some("User") => IdentityKind::Human,
        Some(_) => IdentityKind::ServiceAccount,
    };
    let uid = p.alternate_id.take_known().or_else(|| p.id.take_known())?;
    let email = is_email(&uid).then(|| uid.clone());
    let mut user = User::new(uid, kind);
    user.name = p.display_name.take();
    user.email_addr = email;
    Some(user)
}

/// Two principals are the same when their ids or logins match.
fn same_principal(a: &Principal<'_>, b: &Principal<'_>) -> bool {
    match (a.id.known(), b.id.known()) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.alternate_id.known(), b.alternate_id.known()) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            _ => true,
        },
    }
}

fn strip_query(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

fn valid_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

fn target_of<'r, 'a>(
    targets: &'r mut [Principal<'a>],
    kind: &str,
) -> Option<&'r mut Principal<'a>> {
    targets.iter_mut().find(|t| t.kind.get() == Some(kind))
}

fn mfa_activity(e: &mut Event) {
    e.activity_name = Some("MFA Challenge".into());
}

/// Append the event of record `r` (raw bytes `raw`) to `events`: everything that can fail
/// is decided before the event is appended, which is then filled where it stays.
fn to_event(r: &mut Record<'_>, raw: &[u8], events: &mut Vec<Event>) -> Result<(), ParseError> {
    let Some(published) = r.published.get() else {
        return Err(ParseError::field(
            "published",
            "missing: an Okta LogEvent needs the time it was published",
        ));
    };
    let time = parse_published(published).ok_or_else(|| {
        ParseError::field(
            "published",
            format!("{} is not a valid RFC 3339 time", quoted(published)),
        )
    })?;
    let Some(event_type) = r.event_type.take() else {
        return Err(ParseError::field(
            "eventType",
            "missing: an Okta LogEvent needs its event type",
        ));
    };
    let vendor_uid = r.uuid.take_known();
    let uid = match &vendor_uid {
        Some(u) => u.clone(),
        None => derived_uid(NAME, raw),
    };

    let mut outcome = r.outcome.0.take().unwrap_or_default();
    let mut status = status_of(outcome.result.get());
    let challenged = outcome
        .result
        .get()
        .is_some_and(|s| s.eq_ignore_ascii_case("CHALLENGE"));
    let mut debug = r.debug.0.take().and_then(|d| d.data.0).unwrap_or_default();
    let auth = r.auth.0.take();
    let mut targets = std::mem::take(&mut r.target.0);

    let factor: Option<Cow<'static, str>> = debug
        .factor
        .known()
        .or_else(|| auth.as_ref().and_then(|a| a.credential_type.known()))
        .and_then(factor_caption);

    let mut kind = classify(&event_type);
    if kind == Kind::Verify {
        let factor_uri = debug
            .request_uri
            .get()
            .is_some_and(|u| u.contains("/factors/"));
        let password = debug
            .factor
            .get()
            .is_some_and(|f| f.starts_with("PASSWORD"))
            || auth
                .as_ref()
                .and_then(|a| a.credential_type.get())
                .is_some_and(|c| c == "PASSWORD");
        if !password && (factor.is_some() || factor_uri) {
            kind = Kind::Mfa;
        }
    }
    if kind == Kind::SignOnPolicy && challenged {
        kind = Kind::MfaSent;
    }

    let (class, activity, action): (ClassUid, u32, Option<&'static str>) = match kind {
        Kind::Login(_) | Kind::AppLogin | Kind::AdminAppLogin => {
            (ClassUid::Authentication, 1, Some("login"))
        }
        Kind::Logoff(action) => (ClassUid::Authentication, 2, Some(action)),
        Kind::Mfa | Kind::MfaSent | Kind::MfaRefused => {
            (ClassUid::Authentication, 99, Some("mfa_challenge"))
        }
        Kind::Verify => (ClassUid::Authentication, 99, None),
        Kind::SignOnPolicy => {
            if status == StatusId::Failure {
                (
                    ClassUid::WebResourceAccessActivity,
                    2,
                    Some("access_denied"),
                )
            } else {
                (ClassUid::WebResourceAccessActivity, 1, None)
            }
        }
        Kind::Denied => (
            ClassUid::WebResourceAccessActivity,
            2,
            Some("access_denied"),
        ),
        Kind::Account(a, action) => (ClassUid::AccountChange, a, action),
        Kind::Access(a, action, _) => (ClassUid::UserAccessManagement, a, action),
        Kind::Consent(a, action) => (ClassUid::EntityManagement, a, action),
        Kind::OauthToken(a, action) => (ClassUid::EntityManagement, a, Some(action)),
        Kind::ApiToken(a, action) => (ClassUid::EntityManagement, a, action),
        Kind::Entity(a, _) => (ClassUid::EntityManagement, a, None),
        Kind::Api(a) => (ClassUid::ApiActivity, a, None),
    };
    match kind {
        // A challenge sent or demanded is pending; only its answer says success or failure.
        Kind::MfaSent if status != StatusId::Failure => status = StatusId::Unknown,
        Kind::MfaRefused => status = StatusId::Failure,
        _ => {}
    }

    events.push(Event::new(class, activity, time, uid));
    let Some(e) = events.last_mut() else {
        return Err(ParseError::record("no room for the event"));
    };
    if class == ClassUid::Authentication && activity == 99 && action.is_some() {
        mfa_activity(e);
    }
    e.metadata.original_event_uid = vendor_uid;
    e.metadata.product = ProductRef {
        name: "Okta System Log".into(),
        vendor_name: "Okta".into(),
    };
    e.midwatch.action = action.map(Into::into);
    e.set_status(status);
    e.status_detail = outcome.reason.take();
    if kind == Kind::MfaRefused && e.status_detail.is_none() {
        e.status_detail = Some("the user refused the MFA challenge".to_string());
    }
    e.message = r.display_message.take();
    e.severity_id = match r.severity.get() {
        Some("WARN") => 3,
        Some("ERROR") => 4,
        _ => 1,
    };

    // Actor, and who it acts for.
    let mut actor = r.actor.0.take();
    let actor_is_target = match (
        &actor,
        targets.iter().find(|t| t.kind.get() == Some("User")),
    ) {
        (Some(a), Some(t)) => same_principal(a, t),
        _ => true,
    };
    let original = debug.original_principal.0.take();
    match (actor.as_mut(), original) {
        (Some(okta_actor), Some(mut orig)) if !same_principal(okta_actor, &orig) => {
            e.actor.user = to_user(&mut orig).map(Box::new);
            e.actor.on_behalf_of = to_user(okta_actor).map(Box::new);
        }
        (Some(okta_actor), _) => {
            e.actor.user = to_user(okta_actor).map(Box::new);
        }
        (None, Some(mut orig)) => e.actor.user = to_user(&mut orig).map(Box::new),
        (None, None) => {}
    }

    // The user acted upon.
    e.user = target_of(&mut targets, "User")
        .and_then(to_user)
        .map(Box::new);
    if e.user.is_none() && matches!(class, ClassUid::Authentication | ClassUid::AccountChange) {
        e.user.clone_from(&e.actor.user);
    }

    // Session.
    let (ext, root) = match &auth {
        Some(a) => (
            a.external_session_id.known(),
            a.root_session_id.known().or(debug.root_session_id.known()),
        ),
        None => (None, debug.root_session_id.known()),
    };
    let token_id = r
        .transaction
        .0
        .as_ref()
        .and_then(|t| t.detail.0.as_ref())
        .and_then(|d| {
            d.root_api_token_id
                .known()
                .or(d.request_api_token_id.known())
        });
    if let (Some(x), Some(root)) = (ext, root)
        && x != root
    {
        e.metadata.labels.push(format!("root_session:{root}"));
    }
    // Clearing another user's sessions is not the end of the admin's own session.
    let keep_session = kind != Kind::Logoff("session_revoked") || actor_is_target;
    let session_uid = ext.or(root);
    if keep_session && (session_uid.is_some() || token_id.is_some()) {
        let succeeded = status == StatusId::Success;
        e.actor.session = Some(Box::new(SessionRef {
            uid: session_uid.map(str::to_string),
            credential_uid: token_id.map(token_fingerprint),
            created_time: (matches!(kind, Kind::Login(_)) && succeeded).then_some(time),
            expiration_time: None,
            is_mfa: (kind == Kind::Mfa && succeeded).then_some(true),
            issuer: None,
        }));
    }

    // Network origin.
    let mut client = r.client.0.take();
    let security = r.security.0.take();
    let ip = client
        .as_mut()
        .and_then(|c| c.ip_address.take_known())
        .filter(|ip| valid_ip(ip))
        .or_else(|| {
            r.request
                .0
                .as_mut()
                .and_then(|q| q.ip_chain.0.as_mut())
                .and_then(|h| h.ip.take_known())
                .filter(|ip| valid_ip(ip))
        });
    let location = client
        .as_mut()
        .and_then(|c| c.geo.0.as_mut())
        .and_then(|g| {
            let point = g.geolocation.0.as_ref();
            let lat = point
                .and_then(|p| p.lat.0)
                .filter(|v| (-90.0..=90.0).contains(v));
            let long = point
                .and_then(|p| p.lon.0)
                .filter(|v| (-180.0..=180.0).contains(v));
            let city = g.city.take_known();
            let country = g.country.take_known();
            (city.is_some() || country.is_some() || lat.is_some() || long.is_some()).then_some(
                Location {
                    city,
                    country,
                    lat,
                    long,
                },
            )
        });
    let (autonomous_system, isp, proxy) = match security {
        Some(mut s) => {
            let name = s.as_org.take_known();
            let asys = (s.as_number.0.is_some() || name.is_some()).then_some(AutonomousSystem {
                number: s.as_number.0,
                name,
            });
            (asys, s.isp.take_known(), s.is_proxy.0 == Some(true))
        }
        None => (None, None, false),
    };
    if ip.is_some() || location.is_some() || autonomous_system.is_some() || isp.is_some() {
        e.src_endpoint = Some(Box::new(SrcEndpoint {
            ip,
            location,
            autonomous_system,
            isp,
        }));
    }
    if proxy {
        e.metadata.labels.push("proxy".to_string());
    }
    if let Some(label) = debug.risk.max(debug.log_only_security_data).label() {
        e.metadata.labels.push(label.to_string());
    }
    if debug.threat_suspected.0 == Some(true) {
        e.metadata.labels.push("threat_suspected".to_string());
    }

    // Device and HTTP request.
    let mut ua = client.as_mut().and_then(|c| c.user_agent.0.take());
    let mut okta_device = r.device.0.take();
    let device_uid = debug
        .dt_hash
        .take_known()
        .or_else(|| okta_device.as_mut().and_then(|d| d.id.take_known()));
    let is_managed = okta_device.as_ref().and_then(|d| d.managed.0);
    let os_name = ua.as_mut().and_then(|u| u.os.take_known()).or_else(|| {
        okta_device
            .as_mut()
            .and_then(|d| d.os_platform.take_known())
    });
    if device_uid.is_some() || is_managed.is_some() || os_name.is_some() {
        e.device = Some(Box::new(Device {
            uid: device_uid,
            is_managed,
            os_name,
        }));
    }
    let user_agent = ua.as_mut().and_then(|u| u.raw.take_known());
    let path = debug
        .request_uri
        .get()
        .or(debug.url.get())
        .map(strip_query)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    if user_agent.is_some() || path.is_some() {
        e.http_request = Some(Box::new(HttpRequest {
            user_agent,
            http_method: None,
            url: path.map(|p| Url {
                hostname: None,
                path: Some(p),
                url_string: None,
            }),
        }));
    }

    // The app.
    let app = target_of(&mut targets, "AppInstance").and_then(|t| t.display_name.take_known());
    let svc_name = match kind {
        Kind::AdminAppLogin => app.or_else(|| Some("Okta Admin Console".to_string())),
        _ => app,
    };

    // What the event type adds.
    match kind {
        Kind::Login(proto) => {
            let p = match proto {
                Proto::FromContext => context_protocol(auth.as_ref()),
                Proto::Fixed(p) => p,
            };
            e.auth_protocol = Some(p.into());
            e.auth_protocol_id = Some(99);
        }
        Kind::AppLogin | Kind::AdminAppLogin => {
            e.auth_protocol = Some("sso".into());
            e.auth_protocol_id = Some(99);
        }
        Kind::Mfa | Kind::MfaSent | Kind::MfaRefused => {
            e.is_mfa = Some(true);
            let factor = factor.or_else(|| {
                auth.as_ref()
                    .and_then(|a| a.credential_provider.known())
                    .and_then(|p| match p {
                        "RSA" | "SYMANTEC" | "YUBIKEY" => Some(Cow::Borrowed("Hardware Token")),
                        "GOOGLE" => Some(Cow::Borrowed("TOTP")),
                        "DUO" => Some(Cow::Borrowed("Duo")),
                        _ => None,
                    })
            });
            if let Some(f) = factor {
                e.auth_factors.push(AuthFactor {
                    factor_type: Some(f),
                });
            }
        }
        Kind::Access(_, _, granted) => match granted {
            Granted::Group => e.privileges.extend(
                target_of(&mut targets, "UserGroup")
                    .and_then(|g| g.display_name.take_known())
                    .map(|g| format!("group:{g}")),
            ),
            Granted::App => e
                .privileges
                .extend(svc_name.as_deref().map(|a| format!("app:{a}"))),
            Granted::Impersonation => e.privileges.push("impersonation".to_string()),
            Granted::Role { revoked } => {
                let list = if revoked {
                    debug.privilege_revoked.get()
                } else {
                    debug.privilege_granted.get()
                };
                e.privileges.extend(
                    list.into_iter()
                        .flat_map(|l| l.split(','))
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                );
            }
        },
        Kind::Consent(..) | Kind::OauthToken(..) => {
            let scope_text = debug.granted_scopes.get().or(debug.scopes.get());
            let mut scopes: Vec<String> = scope_text
                .map(|s| {
                    s.split([' ', ','])
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if scopes.is_empty() {
                scopes = targets
                    .iter_mut()
                    .filter(|t| t.kind.get().is_some_and(|k| k.contains("Scope")))
                    .filter_map(|t| t.display_name.take_known())
                    .collect();
            }
            let app_target = targets.iter_mut().find(|t| {
                matches!(
                    t.kind.get(),
                    Some("PublicClientApp" | "AppInstance" | "Client" | "OAuth2Client")
                )
            });
            let (uid, name) = match app_target {
                Some(t) => (t.id.take_known(), t.display_name.take_known()),
                None => (None, None),
            };
            let uid = uid.or_else(|| client.as_mut().and_then(|c| c.id.take_known()));
            let name = name.or_else(|| svc_name.clone());
            e.entity = Some(Box::new(Entity {
                type_name: Some(
                    if matches!(kind, Kind::Consent(..)) {
                        "oauth_grant"
                    } else {
                        "oauth_token"
                    }
                    .into(),
                ),
                name,
                uid,
                scopes,
            }));
        }
        Kind::ApiToken(..) => {
            let token = match targets.iter().position(|t| {
                t.kind
                    .get()
                    .is_some_and(|k| k.contains("Token") || k.contains("token"))
            }) {
                Some(i) => targets.get_mut(i),
                None => targets.first_mut(),
            };
            let (uid, name) = match token {
                Some(t) => (
                    t.id.known().map(token_fingerprint),
                    t.display_name.take_known(),
                ),
                None => (None, None),
            };
            e.entity = Some(Box::new(Entity {
                type_name: Some("api_token".into()),
                name,
                uid,
                scopes: Vec::new(),
            }));
        }
        Kind::Entity(_, entity_type) => {
            let first = targets.first_mut();
            let (uid, name) = match first {
                Some(t) => (t.id.take_known(), t.display_name.take_known()),
                None => (None, None),
            };
            e.entity = Some(Box::new(Entity {
                type_name: Some(entity_type.into()),
                name,
                uid,
                scopes: Vec::new(),
            }));
        }
        Kind::Api(_) => {
            e.api = Some(Box::new(Api {
                operation: Some(event_type.clone()),
                service: Some(ApiService {
                    name: Some("Okta".into()),
                }),
            }));
        }
        // No second factor is evident (a password check): say so, so that it is not taken
        // for a step-up.
        Kind::Verify => e.is_mfa = Some(false),
        Kind::Logoff(_) | Kind::SignOnPolicy | Kind::Denied | Kind::Account(..) => {}
    }
    if svc_name.is_some() {
        e.dst_endpoint = Some(Box::new(DstEndpoint {
            hostname: None,
            svc_name,
        }));
    }
    e.metadata.event_code = Some(event_type);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Event, ParseError> {
        match Okta.parse(s.as_bytes(), RecordCtx::default())? {
            Parsed::Events(mut v) => {
                assert_eq!(v.len(), 1);
                let e = v.remove(0);
                e.validate().unwrap();
                Ok(e)
            }
            Parsed::Skip(n) => panic!("skipped: {n}"),
        }
    }

    const LOGIN: &str = r#"{"actor":{"alternateId":"alice@example.com","displayName":"Alice","id":"00u1","type":"User"},
        "authenticationContext":{"credentialType":"PASSWORD","externalSessionId":"102abc","rootSessionId":"idxroot"},
        "client":{"geographicalContext":{"city":"Lisbon","country":"Portugal","geolocation":{"lat":38.7,"lon":-9.1}},
                  "ipAddress":"198.51.100.7","userAgent":{"os":"Mac OS X","rawUserAgent":"Mozilla/5.0"}},
        "debugContext":{"debugData":{"dtHash":"ab12","requestUri":"/idp/idx/identify?stateToken=secret","risk":"{reasons=Anomalous Device, level=HIGH}","threatSuspected":"true"}},
        "displayMessage":"User login to Okta","eventType":"user.session.start",
        "outcome":{"reason":null,"result":"SUCCESS"},"published":"2026-01-05T09:00:00.123Z",
        "securityContext":{"asNumber":"64500","asOrg":"Example Net","isProxy":true,"isp":"Example ISP"},
        "severity":"INFO","target":null,
        "transaction":{"detail":{"rootApiTokenId":"00T1"},"id":"tx1","type":"WEB"},
        "uuid":"e-1"}"#;

    #[test]
    fn session_start_is_a_login_with_every_session_fact() {
        let e = parse(LOGIN).unwrap();
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::Authentication, 1));
        assert_eq!(e.time, 1_767_603_600_123);
        assert_eq!(e.metadata.uid, "e-1");
        assert_eq!(e.metadata.event_code.as_deref(), Some("user.session.start"));
        assert_eq!(e.midwatch.action.as_deref(), Some("login"));
        assert_eq!(e.status_id, StatusId::Success);
        assert_eq!(e.auth_protocol.as_deref(), Some("password"));
        let actor = e.actor.user.as_deref().unwrap();
        assert_eq!(actor.uid.as_deref(), Some("alice@example.com"));
        assert_eq!(actor.email_addr.as_deref(), Some("alice@example.com"));
        assert_eq!(actor.name.as_deref(), Some("Alice"));
        assert_eq!(actor.kind(), Some(IdentityKind::Human));
        assert_eq!(
            e.user.as_deref().unwrap().uid.as_deref(),
            Some("alice@example.com")
        );
        let s = e.session_ref().unwrap();
        assert_eq!(s.uid.as_deref(), Some("102abc"));
        assert_eq!(s.credential_uid, Some(token_fingerprint("00T1")));
        assert_eq!(s.created_time, Some(e.time));
        assert_eq!(
            e.metadata.labels,
            [
                "root_session:idxroot",
                "proxy",
                "risk:high",
                "threat_suspected"
            ]
        );
        assert_eq!(e.src_ip(), Some("198.51.100.7"));
        assert_eq!(e.src_asn(), Some(64500));
        assert_eq!(e.src_country(), Some("Portugal"));
        let src = e.src_endpoint.as_deref().unwrap();
        assert_eq!(src.isp.as_deref(), Some("Example ISP"));
        assert_eq!(src.location.as_ref().unwrap().lat, Some(38.7));
        assert_eq!(e.device_id(), Some("ab12"));
        assert_eq!(
            e.device.as_deref().unwrap().os_name.as_deref(),
            Some("Mac OS X")
        );
        assert_eq!(e.user_agent(), Some("Mozilla/5.0"));
        let url = e.http_request.as_deref().unwrap().url.as_ref().unwrap();
        assert_eq!(url.path.as_deref(), Some("/idp/idx/identify"));
        assert_eq!(e.message.as_deref(), Some("User login to Okta"));
    }

    #[test]
    fn root_session_is_the_session_when_no_external_id() {
        let rec = LOGIN.replace(r#""externalSessionId":"102abc","#, "");
        let e = parse(&rec).unwrap();
        assert_eq!(e.session_ref().unwrap().uid.as_deref(), Some("idxroot"));
        assert!(
            !e.metadata
                .labels
                .iter()
                .any(|l| l.starts_with("root_session"))
        );
    }

    #[test]
    fn sign_in_protocol_follows_the_credential() {
        let cases = [
            ("PASSWORD", "password"),
            ("ASSERTION", "sso"),
            ("IWA", "sso"),
            ("OAUTH2", "token"),
            ("EMAIL", "magic_link"),
            ("null", "sso"),
        ];
        for (cred, want) in cases {
            let rec = LOGIN.replace(
                r#""credentialType":"PASSWORD""#,
                &format!(r#""credentialType":"{cred}""#),
            );
            assert_eq!(
                parse(&rec).unwrap().auth_protocol.as_deref(),
                Some(want),
                "{cred}"
            );
        }
    }

    #[test]
    fn quirks_read_as_absent_not_as_errors() {
        let e = parse(
            r#"{"eventType":"user.session.end","published":"2020-02-14T22:18:51.843Z","uuid":"u",
                "actor":"null","client":{"ipAddress":"null","geographicalContext":null,"userAgent":7},
                "authenticationContext":{"externalSessionId":"unknown"},"securityContext":{"asNumber":"n/a","isProxy":"false"},
                "debugContext":{"debugData":[]},"outcome":{"result":"SUCCESS","reason":{"x":1}},"target":[1,"x",null],
                "request":{"ipChain":[{"ip":"203.0.113.9"},{"ip":"10.0.0.1"}]}}"#,
        )
        .unwrap();
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::Authentication, 2));
        assert_eq!(e.midwatch.action.as_deref(), Some("logout"));
        assert!(e.actor.user.is_none());
        assert!(e.actor.session.is_none());
        assert_eq!(e.src_ip(), Some("203.0.113.9"));
        assert!(e.status_detail.is_none());
        assert!(e.metadata.labels.is_empty());
    }

    #[test]
    fn escaped_and_repeated_keys() {
        let e = parse(
            r#"{"event\u0054ype":"user.session.end","eventType":"user.session.start",
                "published":"2026-01-05T09:00:00Z","uuid":"u","uuid":"v"}"#,
        )
        .unwrap();
        assert_eq!(e.midwatch.action.as_deref(), Some("login"));
        assert_eq!(e.metadata.uid, "v");
        let e =
            parse(r#"{"event\u0054ype":"user.session.end","published":"2026-01-05T09:00:00Z"}"#)
                .unwrap();
        assert_eq!(e.midwatch.action.as_deref(), Some("logout"));
    }

    #[test]
    fn unknown_event_types_are_api_activity() {
        let e = parse(
            r#"{"eventType":"brand.new.thing","published":"2026-01-05T09:00:00Z","uuid":"u"}"#,
        )
        .unwrap();
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::ApiActivity, 99));
        assert_eq!(e.metadata.event_code.as_deref(), Some("brand.new.thing"));
        assert_eq!(
            e.api.as_deref().unwrap().operation.as_deref(),
            Some("brand.new.thing")
        );
        assert!(e.midwatch.action.is_none());
    }

    #[test]
    fn missing_or_impossible_time_and_missing_type_are_rejected_by_field() {
        let cases = [
            (
                r#"{"eventType":"user.session.start","published":"2017-09-31T22:23:07.777Z"}"#,
                "`published`: `2017-09-31T22:23:07.777Z` is not a valid RFC 3339 time",
            ),
            (
                r#"{"eventType":"user.session.start"}"#,
                "`published`: missing",
            ),
            (
                r#"{"eventType":"user.session.start","published":"null"}"#,
                "`published`: missing",
            ),
            (
                r#"{"published":"2026-01-05T09:00:00Z"}"#,
                "`eventType`: missing",
            ),
            (r#"[1]"#, "not an Okta LogEvent object"),
            (r#"{"eventType":"#, "not valid JSON"),
        ];
        for (input, want) in cases {
            let err = parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}\n  got: {err}\n want: {want}");
        }
    }

    #[test]
    fn broken_json_is_rejected_with_a_reason() {
        let cases: [(&[u8], &str); 11] = [
            (
                br#"{"eventType":"x"} {}"#,
                "not valid JSON: trailing characters",
            ),
            (b"", "not valid JSON: EOF while parsing"),
            (b"   ", "not valid JSON: EOF while parsing"),
            (b"[1", "not valid JSON: EOF while parsing"),
            // Grammar is checked in fields that are not read, too.
            (
                b"{\"eventType\":\"x\",\"other\":\"a\x01b\"}",
                "not valid JSON: control character",
            ),
            (
                br#"{"eventType":"x","other":"\q"}"#,
                "not valid JSON: invalid escape",
            ),
            (
                br#"{"eventType":"x","other":[01]}"#,
                "not valid JSON: invalid number",
            ),
            (
                br#"{"eventType":"x","other":{"a":1,}}"#,
                "not valid JSON: key must be a string",
            ),
            (
                br#""text""#,
                "not an Okta LogEvent object: the record is a JSON string",
            ),
            (b"null", "not an Okta LogEvent object: the record is null"),
            (
                b"[1]",
                "not an Okta LogEvent object: the record is a JSON array",
            ),
        ];
        for (input, want) in cases {
            let err = Okta
                .parse(input, RecordCtx::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(want),
                "{}\n  got: {err}\n want: {want}",
                String::from_utf8_lossy(input)
            );
        }
    }

    const PLAIN: &str =
        r#"{"eventType":"user.session.start","published":"2026-01-05T09:00:00Z","uuid":"u","#;

    fn parse_bytes(b: &[u8]) -> Result<Event, ParseError> {
        match Okta.parse(b, RecordCtx::default())? {
            Parsed::Events(mut v) => {
                let e = v.remove(0);
                e.validate().unwrap();
                Ok(e)
            }
            Parsed::Skip(n) => panic!("skipped: {n}"),
        }
    }

    /// Bytes that are not UTF-8 are no reason to lose an event: unread, they are not looked
    /// at (as before); read, they become U+FFFD (before, the record was rejected). The raw
    /// record keeps them as they came.
    #[test]
    fn bytes_that_are_not_utf8_do_not_cost_the_event() {
        let mut rec = PLAIN.as_bytes().to_vec();
        rec.extend_from_slice(
            b"\"legacyEventType\":\"x\xff\xfey\",\"displayMessage\":\"caf\xe9\"}",
        );
        let e = parse_bytes(&rec).unwrap();
        assert_eq!(e.midwatch.action.as_deref(), Some("login"));
        assert_eq!(e.message.as_deref(), Some("caf\u{FFFD}"));

        let out = crate::normalize_bytes(&Okta, &rec, &crate::Limits::default());
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.raw.first().map(|r| &r.bytes[..]), Some(rec.as_slice()));

        let e = parse_bytes(
            b"{\"eventType\":\"user.session.\xffend\",\"published\":\"2026-01-05T09:00:00Z\"}",
        )
        .unwrap();
        assert_eq!(
            e.metadata.event_code.as_deref(),
            Some("user.session.\u{FFFD}end")
        );
    }

    /// A lone UTF-16 surrogate escape reads as U+FFFD (before: the record was rejected when
    /// the field was read; the SIMD attempt turned it into NUL); pairs decode.
    #[test]
    fn lone_surrogate_escapes_read_as_the_replacement_character() {
        let e = parse(&format!(
            r#"{PLAIN}"displayMessage":"a\ud800b \ud83d\ude00","client":{{"userAgent":{{"rawUserAgent":"\udc00"}}}}}}"#
        ))
        .unwrap();
        assert_eq!(e.message.as_deref(), Some("a\u{FFFD}b \u{1F600}"));
        assert_eq!(e.user_agent(), Some("\u{FFFD}"));
        assert!(!e.message.as_deref().unwrap_or("").contains('\0'));
    }

    /// Numbers beyond an `f64`: not looked at where unread (as before), absent where read
    /// (before: the record was rejected).
    #[test]
    fn numbers_out_of_range_read_as_absent() {
        let e = parse(&format!(
            r#"{PLAIN}"unread":[1e999999,-1e400],"securityContext":{{"asNumber":1e999,"asOrg":"Example"}},
                "client":{{"ipAddress":"198.51.100.7","geographicalContext":{{"country":"Portugal","geolocation":{{"lat":1e999,"lon":-9.1}}}}}},
                "displayMessage":1e400}}"#
        ))
        .unwrap();
        let src = e.src_endpoint.as_deref().unwrap();
        let asys = src.autonomous_system.as_ref().unwrap();
        assert_eq!((asys.number, asys.name.as_deref()), (None, Some("Example")));
        let loc = src.location.as_ref().unwrap();
        assert_eq!((loc.lat, loc.long), (None, Some(-9.1)));
        assert!(e.message.is_none());
    }

    #[test]
    fn deep_nesting_is_stepped_over_not_recursed_into() {
        let record = |extra: &str, risk: &str| {
            format!(
                r#"{{"eventType":"user.session.start","published":"2026-01-05T09:00:00Z",
                    "uuid":"u","extra":{extra},"debugContext":{{"debugData":{{"risk":{risk}}}}}}}"#
            )
        };
        let nested = |n: usize| {
            format!(
                "{}\"{{level=HIGH}}\"{}",
                r#"{"risk":"#.repeat(n),
                "}".repeat(n)
            )
        };
        // An unknown field 100,000 levels deep (a record over the reusable buffer size)
        // is skipped whole; `risk` objects are looked into a few levels only.
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse(&record(&deep, &nested(10_000))).unwrap();
        assert!(e.metadata.labels.is_empty());
        let e = parse(&record("[[1]]", &nested(3))).unwrap();
        assert_eq!(e.metadata.labels, ["risk:high"]);
    }

    #[test]
    fn times_in_other_shapes_still_parse() {
        for (text, ms) in [
            ("2026-01-05T10:00:00.123+01:00", 1_767_603_600_123),
            ("2026-01-05T09:00:00Z", 1_767_603_600_000),
            ("2026-01-05 09:00:00.1234567890", 1_767_603_600_123),
            ("1767603600", 1_767_603_600_000),
            ("2024-02-29T00:00:00Z", 1_709_164_800_000),
        ] {
            assert_eq!(parse_published(text), Some(ms), "{text}");
        }
        assert_eq!(parse_published("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_published("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn fast_time_agrees_with_the_general_parser() {
        let mut ms: i64 = 0;
        for i in 0..2_000i64 {
            ms = ms
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407 + i);
            let t = ms.rem_euclid(4_102_444_800_000);
            let text = midwatch_model::timefmt::format_ms(t);
            assert_eq!(fast_rfc3339_ms(&text), Some(t), "{text}");
            assert_eq!(midwatch_model::timefmt::parse_rfc3339_ms(&text), Some(t));
        }
    }

    fn kind_of(event_type: &str, result: &str, extra: &str) -> Event {
        parse(&format!(
            r#"{{"eventType":"{event_type}","published":"2026-01-05T09:00:00Z","uuid":"u",
                "actor":{{"alternateId":"admin@example.com","id":"00uA","type":"User"}},
                "authenticationContext":{{"externalSessionId":"s-admin"}},
                "outcome":{{"result":"{result}"}}{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn mfa_events() {
        let e = kind_of(
            "user.authentication.auth_via_mfa",
            "SUCCESS",
            r#","debugContext":{"debugData":{"factor":"OKTA_VERIFY_PUSH"}}"#,
        );
        assert_eq!((e.class_uid, e.activity_id), (ClassUid::Authentication, 99));
        assert_eq!(e.activity_name.as_deref(), Some("MFA Challenge"));
        assert_eq!(e.midwatch.action.as_deref(), Some("mfa_challenge"));
        assert_eq!(e.is_mfa, Some(true));
        assert_eq!(
            e.auth_factors[0].factor_type.as_deref(),
            Some("Push Notification")
        );
        assert_eq!(e.session_ref().unwrap().is_mfa, Some(true));

        let sent = kind_of("system.push.send_factor_verify_push", "SUCCESS", "");
        assert_eq!(sent.midwatch.action.as_deref(), Some("mfa_challenge"));
        assert_eq!(sent.status_id, StatusId::Unknown);

        let denied = kind_of("user.mfa.okta_verify.deny_push", "SUCCESS", "");
        assert_eq!(denied.status_id, StatusId::Failure);
        assert_eq!(denied.midwatch.action.as_deref(), Some("mfa_challenge"));

        let verify_factor = kind_of(
            "user.authentication.verify",
            "FAILURE",
            r#","debugContext":{"debugData":{"requestUri":"/api/v1/authn/factors/x/verify"}}"#,
        );
        assert_eq!(
            verify_factor.midwatch.action.as_deref(),
            Some("mfa_challenge")
        );
        assert_eq!(verify_factor.status_id, StatusId::Failure);

        let verify_password = kind_of(
            "user.authentication.verify",
            "SUCCESS",
            r#","debugContext":{"debugData":{"factor":"PASSWORD_AS_FACTOR"}}"#,
        );
        assert_eq!(verify_password.activity_id, 99);
        assert_eq!(verify_password.activity_name.as_deref(), Some("Other"));
        assert!(verify_password.midwatch.action.is_none());
        assert_eq!(verify_password.is_mfa, Some(false));
    }

    #[test]
    fn sign_on_policy_decisions() {
        let allow = kind_of("policy.evaluate_sign_on", "ALLOW", "");
        assert_eq!(
            (allow.class_uid, allow.activity_id),
            (ClassUid::WebResourceAccessActivity, 1)
        );
        let deny = kind_of("policy.evaluate_sign_on", "DENY", "");
        assert_eq!(
            (deny.class_uid, deny.activity_id),
            (ClassUid::WebResourceAccessActivity, 2)
        );
        assert_eq!(deny.midwatch.action.as_deref(), Some("access_denied"));
        assert_eq!(deny.status_id, StatusId::Failure);
        let challenge = kind_of("policy.evaluate_sign_on", "CHALLENGE", "");
        assert_eq!(challenge.midwatch.action.as_deref(), Some("mfa_challenge"));
        assert_eq!(challenge.status_id, StatusId::Unknown);
    }

    #[test]
    fn access_and_account_changes() {
        let targets = r#","target":[{"alternateId":"bob@example.com","displayName":"Bob","id":"00uB","type":"User"},
                                    {"alternateId":"unknown","displayName":"Sales","id":"00g1","type":"UserGroup"}]"#;
        let e = kind_of("group.user_membership.add", "SUCCESS", targets);
        assert_eq!(
            (e.class_uid, e.activity_id),
            (ClassUid::UserAccessManagement, 1)
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("privilege_grant"));
        assert_eq!(e.privileges, ["group:Sales"]);
        assert_eq!(
            e.user.as_deref().unwrap().uid.as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(e.actor_uid(), Some("admin@example.com"));

        let role = kind_of(
            "user.account.privilege.grant",
            "SUCCESS",
            r#","debugContext":{"debugData":{"privilegeGranted":"Super administrator, Application administrator"}}"#,
        );
        assert_eq!(
            (role.class_uid, role.activity_id),
            (ClassUid::UserAccessManagement, 3)
        );
        assert_eq!(role.midwatch.action.as_deref(), Some("role_assign"));
        assert_eq!(
            role.privileges,
            ["Super administrator", "Application administrator"]
        );

        let app = kind_of(
            "application.user_membership.add",
            "SUCCESS",
            r#","target":[{"displayName":"Salesforce","id":"0oa1","type":"AppInstance"}]"#,
        );
        assert_eq!(app.privileges, ["app:Salesforce"]);
        assert_eq!(
            app.dst_endpoint.as_deref().unwrap().svc_name.as_deref(),
            Some("Salesforce")
        );

        let pw = kind_of("user.account.update_password", "SUCCESS", "");
        assert_eq!((pw.class_uid, pw.activity_id), (ClassUid::AccountChange, 3));
        assert_eq!(pw.midwatch.action.as_deref(), Some("password_change"));
        let other = kind_of("user.account.update_profile", "SUCCESS", "");
        assert_eq!(
            (other.class_uid, other.activity_id),
            (ClassUid::AccountChange, 99)
        );
        let enroll = kind_of("user.mfa.factor.activate", "SUCCESS", "");
        assert_eq!(enroll.midwatch.action.as_deref(), Some("mfa_enroll"));
    }

    #[test]
    fn oauth_and_tokens() {
        let consent = kind_of(
            "app.oauth2.as.consent.grant",
            "SUCCESS",
            r#","target":[{"displayName":"Figma","id":"0oaF","type":"PublicClientApp"}],
               "debugContext":{"debugData":{"grantedScopes":"openid email files.read"}}"#,
        );
        assert_eq!(
            (consent.class_uid, consent.activity_id),
            (ClassUid::EntityManagement, 1)
        );
        assert_eq!(consent.midwatch.action.as_deref(), Some("oauth_consent"));
        let entity = consent.entity.as_deref().unwrap();
        assert_eq!(entity.type_name.as_deref(), Some("oauth_grant"));
        assert_eq!(entity.uid.as_deref(), Some("0oaF"));
        assert_eq!(entity.name.as_deref(), Some("Figma"));
        assert_eq!(entity.scopes, ["openid", "email", "files.read"]);

        let token = kind_of("app.oauth2.as.token.grant.refresh_token", "SUCCESS", "");
        assert_eq!(token.midwatch.action.as_deref(), Some("token_create"));

        let created = kind_of(
            "system.api_token.create",
            "SUCCESS",
            r#","target":[{"displayName":"ci-token","id":"00T9","type":"Token"}]"#,
        );
        assert_eq!(created.midwatch.action.as_deref(), Some("token_create"));
        let entity = created.entity.as_deref().unwrap();
        assert_eq!(entity.type_name.as_deref(), Some("api_token"));
        assert_eq!(entity.uid, Some(token_fingerprint("00T9")));
    }

    #[test]
    fn clearing_someone_elses_sessions_keeps_the_admin_session_open() {
        let e = kind_of(
            "user.session.clear",
            "SUCCESS",
            r#","target":[{"alternateId":"bob@example.com","id":"00uB","type":"User"}]"#,
        );
        assert_eq!(e.midwatch.action.as_deref(), Some("session_revoked"));
        assert!(e.actor.session.is_none());
        let own = kind_of(
            "user.session.clear",
            "SUCCESS",
            r#","target":[{"alternateId":"admin@example.com","id":"00uA","type":"User"}]"#,
        );
        assert!(own.actor.session.is_some());
    }

    #[test]
    fn impersonation_puts_the_original_principal_first() {
        let e = kind_of(
            "user.account.update_profile",
            "SUCCESS",
            r#","debugContext":{"debugData":{"originalPrincipal":{"alternateId":"support@okta.com","id":"00uS","type":"User"}}}"#,
        );
        assert_eq!(e.actor_uid(), Some("support@okta.com"));
        assert_eq!(
            e.actor.on_behalf_of.as_deref().unwrap().uid.as_deref(),
            Some("admin@example.com")
        );
    }

    #[test]
    fn system_principals_are_service_accounts() {
        let e = parse(
            r#"{"eventType":"app.user_management","published":"2023-04-27T00:56:17.750Z","uuid":"u",
                "actor":{"alternateId":"system@okta.com","displayName":"Okta System","id":"spr1","type":"SystemPrincipal"},
                "target":[{"alternateId":"G Suite","displayName":"Google Workspace","id":"0oa1","type":"AppInstance"}]}"#,
        )
        .unwrap();
        assert_eq!(
            e.actor.user.as_deref().unwrap().kind(),
            Some(IdentityKind::ServiceAccount)
        );
        assert_eq!(e.class_uid, ClassUid::ApiActivity);
        assert_eq!(
            e.dst_endpoint.as_deref().unwrap().svc_name.as_deref(),
            Some("Google Workspace")
        );
    }

    #[test]
    fn escaped_strings_and_json_in_strings() {
        let e = parse(
            r#"{"eventType":"user.session.start","published":"2026-01-05T09:00:00Z","uuid":"u",
                "client":{"userAgent":{"rawUserAgent":"A \u0026 B"}},
                "debugContext":{"debugData":{"logOnlySecurityData":"{\"risk\":{\"reasons\":\"x\",\"level\":\"MEDIUM\"}}"}}}"#,
        )
        .unwrap();
        assert_eq!(e.user_agent(), Some("A & B"));
        assert_eq!(e.metadata.labels, ["risk:medium"]);
    }

    #[test]
    fn missing_uuid_gets_a_stable_derived_id() {
        let rec = r#"{"eventType":"user.session.start","published":"2026-01-05T09:00:00Z"}"#;
        let a = parse(rec).unwrap();
        assert_eq!(a.metadata.uid, derived_uid("okta", rec.as_bytes()));
        assert!(a.metadata.original_event_uid.is_none());
    }

    /// Sample records, then each cut short, with bytes changed, inserted or removed.
    fn damaged_samples() -> Vec<Vec<u8>> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/vendor/okta/test-okta-system-events.log"
        );
        let sample = std::fs::read(path).unwrap_or_default();
        let lines: Vec<Vec<u8>> = sample
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        let mut out = lines.clone();
        for line in lines.iter().step_by(4) {
            for cut in (0..line.len()).step_by(23) {
                out.push(line[..cut].to_vec());
            }
        }
        let tricky: &[u8] = b"\"\\{}[],:01-e.+Eutnfl \n\x01\x7f\xff\xc3\xa9\xed";
        let mut seed = 0x5eed_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..6_000 {
            if lines.is_empty() {
                break;
            }
            let mut rec = lines[(next() % lines.len() as u64) as usize].clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() % rec.len() as u64) as usize;
                let b = tricky[(next() % tricky.len() as u64) as usize];
                match next() % 4 {
                    0 => {
                        rec.remove(at);
                    }
                    1 => rec.insert(at, b),
                    2 => {
                        let escape: &[u8] = match next() % 3 {
                            0 => b"\\ud800",
                            1 => b"\\udc00",
                            _ => b"\\ud83d\\ude00",
                        };
                        rec.splice(at..at, escape.iter().copied()).for_each(drop);
                    }
                    _ => rec[at] = b,
                }
            }
            out.push(rec);
        }
        out
    }

    /// The tape is only a faster way to the same reading: wherever it reads a record, the
    /// lazy reader reads the same event; and a record is rejected as not JSON exactly when
    /// serde_json finds it is not.
    #[test]
    fn fast_and_lazy_readings_agree_and_json_is_json() {
        let records = damaged_samples();
        assert!(records.len() > 6_000);
        let mut fast_read = 0;
        for rec in &records {
            let one = |read: fn(&[u8], &mut Vec<Event>) -> Result<(), ParseError>| {
                let mut events = Vec::new();
                read(rec, &mut events).map(|()| events)
            };
            let lazy = one(parse_lazy);
            let fast = {
                let mut events = Vec::new();
                parse_fast(rec, &mut events).map(|read| read.map(|()| events))
            };
            if let Some(fast) = fast {
                fast_read += 1;
                match (&fast, &lazy) {
                    (Ok(f), Ok(l)) => assert_eq!(f, l, "{}", String::from_utf8_lossy(rec)),
                    (Err(f), Err(l)) => assert_eq!(f.to_string(), l.to_string()),
                    _ => panic!(
                        "{}\n fast: {fast:?}\n lazy: {lazy:?}",
                        String::from_utf8_lossy(rec)
                    ),
                }
            }
            let via_source = Okta.parse(rec, RecordCtx::default());
            let not_json = via_source
                .as_ref()
                .err()
                .is_some_and(|e| e.to_string().starts_with("not valid JSON"));
            let serde_says_not_json = serde_json::from_slice::<serde::de::IgnoredAny>(rec).is_err();
            assert_eq!(
                not_json,
                serde_says_not_json,
                "{}\n got: {:?}",
                String::from_utf8_lossy(rec),
                via_source.err()
            );
        }
        assert!(fast_read > 1_000, "{fast_read}");
    }
}
