//! The midwatch field space: what `logsource: product: midwatch` rules see.
//!
//! A rule names fields of the normalized OCSF event by their dotted path exactly as the
//! event serializes (`actor.user.uid`, `src_endpoint.location.country`), plus computed
//! facts about the event's session, identity and app. Paths are resolved by walking the
//! event's own `Serialize` implementation towards the path, without building JSON: the
//! field space is the wire form by construction, and a field absent from the wire form
//! (an empty option or list) is absent here. Field names compare case-insensitively;
//! lists match if any element matches. A rule naming a field that is in neither table is
//! refused at load (`S0015`).
//!
//! **Event fields** (OCSF, as serialized; lists marked `[]`):
//!
//! | field | meaning |
//! |---|---|
//! | `class_uid`, `category_uid`, `activity_id`, `type_uid`, `activity_name` | OCSF class and activity |
//! | `time` | event time, epoch ms |
//! | `severity_id`, `status_id`, `status`, `status_detail`, `message` | outcome |
//! | `metadata.uid`, `metadata.version`, `metadata.product.name`, `metadata.product.vendor_name`, `metadata.log_name` (the midwatch source), `metadata.event_code` (the source's event name), `metadata.original_event_uid`, `metadata.processed_time`, `metadata.labels[]` | metadata |
//! | `actor.user.uid`, `actor.user.name`, `actor.user.email_addr`, `actor.user.type_id` (1 user, 4 service, 99 other), `actor.user.type` (`User`, `Service`, `API Key`, `AI Agent`), `actor.user.has_mfa` | who acted |
//! | `actor.session.uid`, `actor.session.credential_uid`, `actor.session.created_time`, `actor.session.expiration_time`, `actor.session.is_mfa`, `actor.session.issuer` | the source's session |
//! | `actor.app_name`; `actor.on_behalf_of.uid` (and the other `user` fields) | app used; who a delegated actor works for |
//! | `user.uid`, `user.name`, `user.email_addr`, `user.type_id`, `user.type`, `user.has_mfa` | the user acted upon |
//! | `src_endpoint.ip`, `src_endpoint.isp`, `src_endpoint.location.city`, `src_endpoint.location.country`, `src_endpoint.location.lat`, `src_endpoint.location.long`, `src_endpoint.autonomous_system.number`, `src_endpoint.autonomous_system.name` | network origin |
//! | `dst_endpoint.hostname`, `dst_endpoint.svc_name` | the application |
//! | `device.uid`, `device.is_managed`, `device.os_name` | the client device |
//! | `http_request.user_agent`, `http_request.http_method`, `http_request.url.hostname`, `http_request.url.path`, `http_request.url.url_string` | HTTP request |
//! | `auth_protocol`, `auth_protocol_id`, `is_mfa`, `auth_factors[].factor_type` | authentication |
//! | `web_resources[].type`, `web_resources[].name`, `web_resources[].uid`, `web_resources[].url_string` | pages, reports, secrets acted on |
//! | `file.name`, `file.size`, `file.uid`, `file.mime_type` | file |
//! | `api.operation`, `api.service.name` | API operation |
//! | `privileges[]` | privileges granted or revoked |
//! | `entity.type`, `entity.name`, `entity.uid`, `entity.scopes[]` | OAuth grant, token, configuration object |
//! | `app.name`, `app.uid`, `app.vendor_name`, `app.permissions[]` | software installed (browser extension) |
//! | `clipboard.mime_type`, `clipboard.size` | clipboard metadata |
//! | `midwatch.session_uid`, `midwatch.late`, `midwatch.action`, `midwatch.count`, `midwatch.raw.source`, `midwatch.raw.sha256`, `midwatch.raw.line`, `midwatch.raw.offset`, `midwatch.identity.uid`/`kind`/`lifecycle`/`owner`/`mfa_enrolled`, `midwatch.app.uid`/`managed`/`sensitivity` | midwatch extension |
//!
//! **Computed context** (from the session the event was stitched into, the inventory
//! identity and app; absent when there is none):
//!
//! | field | meaning |
//! |---|---|
//! | `session.id` | midwatch session id |
//! | `session.source` | source of the session's first event |
//! | `session.sources[]` | every source that contributed events |
//! | `session.state` | `active`, `stepped_up`, `restricted`, `terminated`, `closed` |
//! | `session.age_s` | event time minus session start, whole seconds |
//! | `session.event_count` | events stitched so far (this one included) |
//! | `session.device_changed` | seen from more than one device or AS (`Session::device_changed`) |
//! | `session.devices`, `session.ips`, `session.asns`, `session.countries`, `session.user_agents` | how many distinct ones were seen |
//! | `session.mfa` | whether MFA established the session |
//! | `session.auth_method` | `sso`, `password`, `passkey`, `token`, … |
//! | `session.privileges_gained[]` | privileges gained inside the session |
//! | `session.actions.<action>` | how many times the session did `<action>` (`export`, `download`, …) |
//! | `session.risk`, `session.findings` | risk 0–100, number of findings |
//! | `session.identity`, `session.identity_kind`, `session.on_behalf_of`, `session.app`, `session.app_id` | who and where |
//! | `session.late_events`, `session.end_reason` | late arrivals; why it ended |
//! | `identity.id`, `identity.kind` (`human`, `service_account`, `api_key`, `ai_agent`), `identity.lifecycle` (`active`, `suspended`, `offboarded`), `identity.owner`, `identity.mfa_enrolled`, `identity.display_name` | the inventory identity (else the event's `midwatch.identity` facts) |
//! | `identity.entitlements[]`, `identity.aliases[]`, `identity.offboarded_at` | entitlements, other names, offboarding time (epoch ms) |
//! | `identity.approved_apps[]`, `identity.approved_actions[]`, `identity.max_session_lifetime_s` | an agent's approved scope |
//! | `app.id`, `app.managed`, `app.sensitivity` (0–3), `app.domain`, `app.display_name` | the inventory app (else the event's `midwatch.app` facts); other `app.*` fields are the event's OCSF `app` |

use super::record::{FieldPath, Lookup, Record, Value};
use crate::Context;
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, Serializer};
use std::cell::RefCell;

/// The record a `product: midwatch` rule is matched against. Many rules test the same
/// few fields, so each field's values are resolved once per record and kept.
#[derive(Debug)]
pub struct MidwatchRecord<'a> {
    ctx: Context<'a>,
    cache: RefCell<Vec<(Box<str>, Slot)>>,
}

/// A path's cached values (`Some(None)`: the path is missing); empty while a visitor runs.
type Slot = Option<Option<Vec<Owned>>>;

/// A value kept by the per-record cache.
#[derive(Debug, Clone)]
enum Owned {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Object,
}

impl Owned {
    fn of(v: Value<'_>) -> Owned {
        match v {
            Value::Null => Owned::Null,
            Value::Bool(b) => Owned::Bool(b),
            Value::Int(i) => Owned::Int(i),
            Value::UInt(u) => Owned::UInt(u),
            Value::Float(f) => Owned::Float(f),
            Value::Number(s) | Value::Str(s) => Owned::Str(s.to_string()),
            Value::Object => Owned::Object,
        }
    }

    fn value(&self) -> Value<'_> {
        match self {
            Owned::Null => Value::Null,
            Owned::Bool(b) => Value::Bool(*b),
            Owned::Int(i) => Value::Int(*i),
            Owned::UInt(u) => Value::UInt(*u),
            Owned::Float(f) => Value::Float(*f),
            Owned::Str(s) => Value::Str(s),
            Owned::Object => Value::Object,
        }
    }
}

impl<'a> MidwatchRecord<'a> {
    /// The record of one event in its context.
    pub fn new(ctx: Context<'a>) -> MidwatchRecord<'a> {
        MidwatchRecord {
            ctx,
            cache: RefCell::new(Vec::new()),
        }
    }

    /// Every value at `path` (`None`: the path does not exist), uncached.
    fn resolve(&self, path: &FieldPath) -> Option<Vec<Owned>> {
        let mut values = Vec::new();
        let mut keep = |v: Value<'_>| {
            values.push(Owned::of(v));
            false
        };
        let found = match computed(&self.ctx, path.as_str(), &mut keep) {
            Some(found) => found,
            None => walk(self.ctx.event, Mode::Seek { path, from: 0 }, &mut keep),
        };
        found.found().then_some(values)
    }
}

impl Record for MidwatchRecord<'_> {
    fn lookup(&self, path: &FieldPath, visit: &mut dyn FnMut(Value<'_>) -> bool) -> Lookup {
        // The values are taken out while the visitor runs, so a visitor that looks fields
        // up itself never meets a borrowed cache.
        let cached = {
            let mut cache = self.cache.borrow_mut();
            cache
                .iter_mut()
                .find(|(p, _)| **p == *path.as_str())
                .and_then(|(_, v)| v.take())
        };
        let values = match cached {
            Some(values) => values,
            None => self.resolve(path),
        };
        let result = match &values {
            Some(values) => Lookup::Found {
                matched: values.iter().any(|v| visit(v.value())),
            },
            None => Lookup::Missing,
        };
        let mut cache = self.cache.borrow_mut();
        match cache.iter_mut().find(|(p, _)| **p == *path.as_str()) {
            Some((_, slot)) => *slot = Some(values),
            None => cache.push((path.as_str().into(), Some(values))),
        }
        result
    }

    fn leaves(&self, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        walk(self.ctx.event, Mode::Leaves, visit).matched()
    }
}

/// Whether `path` names a field of the midwatch field space.
pub fn is_known_field(path: &str) -> bool {
    if is_computed(path) {
        return true;
    }
    let event = sample::full_event();
    walk(
        &event,
        Mode::Seek {
            path: &FieldPath::new(path),
            from: 0,
        },
        &mut |_| true,
    )
    .found()
}

fn strip_prefix_ci<'p>(s: &'p str, prefix: &str) -> Option<&'p str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Computed fields: (name, getter).
type Getter = fn(&Context<'_>, &mut dyn FnMut(Value<'_>) -> bool) -> Lookup;

fn one(found: Option<Value<'_>>, visit: &mut dyn FnMut(Value<'_>) -> bool) -> Lookup {
    match found {
        Some(v) => Lookup::Found { matched: visit(v) },
        None => Lookup::Missing,
    }
}

fn list<'v, I: IntoIterator<Item = Value<'v>>>(
    items: Option<I>,
    visit: &mut dyn FnMut(Value<'_>) -> bool,
) -> Lookup {
    match items {
        Some(items) => Lookup::Found {
            matched: items.into_iter().any(visit),
        },
        None => Lookup::Missing,
    }
}

fn count(n: usize) -> Value<'static> {
    Value::UInt(n as u64)
}

const SESSION: &[(&str, Getter)] = &[
    ("id", |c, v| one(c.session.map(|s| Value::Str(&s.id)), v)),
    ("source", |c, v| {
        one(c.session.map(|s| Value::Str(&s.source)), v)
    }),
    ("sources", |c, v| {
        list(
            c.session.map(|s| s.sources.iter().map(|x| Value::Str(x))),
            v,
        )
    }),
    ("state", |c, v| {
        one(c.session.map(|s| Value::Str(s.state.as_str())), v)
    }),
    ("age_s", |c, v| {
        one(
            c.session
                .map(|s| Value::Int(c.event.time.saturating_sub(s.started).div_euclid(1000))),
            v,
        )
    }),
    ("event_count", |c, v| {
        one(c.session.map(|s| Value::UInt(s.event_count)), v)
    }),
    ("device_changed", |c, v| {
        one(c.session.map(|s| Value::Bool(s.device_changed())), v)
    }),
    ("devices", |c, v| {
        one(c.session.map(|s| count(s.seen.devices.len())), v)
    }),
    ("ips", |c, v| {
        one(c.session.map(|s| count(s.seen.ips.len())), v)
    }),
    ("asns", |c, v| {
        one(c.session.map(|s| count(s.seen.asns.len())), v)
    }),
    ("countries", |c, v| {
        one(c.session.map(|s| count(s.seen.countries.len())), v)
    }),
    ("user_agents", |c, v| {
        one(c.session.map(|s| count(s.seen.user_agents.len())), v)
    }),
    ("mfa", |c, v| {
        one(c.session.and_then(|s| s.mfa).map(Value::Bool), v)
    }),
    ("auth_method", |c, v| {
        one(
            c.session
                .and_then(|s| s.auth_method.as_deref())
                .map(Value::Str),
            v,
        )
    }),
    ("privileges_gained", |c, v| {
        list(
            c.session
                .map(|s| s.privileges_gained.iter().map(|x| Value::Str(x))),
            v,
        )
    }),
    ("risk", |c, v| {
        one(c.session.map(|s| Value::UInt(u64::from(s.risk))), v)
    }),
    ("findings", |c, v| {
        one(c.session.map(|s| Value::UInt(u64::from(s.findings))), v)
    }),
    ("identity", |c, v| {
        one(
            c.session
                .and_then(|s| s.identity.as_deref())
                .map(Value::Str),
            v,
        )
    }),
    ("identity_kind", |c, v| {
        one(
            c.session
                .and_then(|s| s.identity_kind)
                .map(|k| Value::Str(k.as_str())),
            v,
        )
    }),
    ("on_behalf_of", |c, v| {
        one(
            c.session
                .and_then(|s| s.on_behalf_of.as_deref())
                .map(Value::Str),
            v,
        )
    }),
    ("app", |c, v| {
        one(c.session.and_then(|s| s.app.as_deref()).map(Value::Str), v)
    }),
    ("app_id", |c, v| {
        one(
            c.session.and_then(|s| s.app_id.as_deref()).map(Value::Str),
            v,
        )
    }),
    ("late_events", |c, v| {
        one(c.session.map(|s| Value::UInt(s.late_events)), v)
    }),
    ("end_reason", |c, v| {
        one(
            c.session
                .and_then(|s| s.end_reason)
                .map(|r| Value::Str(r.as_str())),
            v,
        )
    }),
];

const IDENTITY: &[(&str, Getter)] = &[
    ("id", |c, v| {
        let id = c
            .identity
            .map(|i| i.id.as_str())
            .or_else(|| c.event.midwatch.identity.as_ref().map(|f| f.uid.as_str()));
        one(id.map(Value::Str), v)
    }),
    ("kind", |c, v| {
        let kind = c
            .identity
            .map(|i| i.kind)
            .or_else(|| c.event.midwatch.identity.as_ref().map(|f| f.kind));
        one(kind.map(|k| Value::Str(k.as_str())), v)
    }),
    ("lifecycle", |c, v| {
        let lc = c.identity.map(|i| i.lifecycle.as_str()).or_else(|| {
            c.event
                .midwatch
                .identity
                .as_ref()
                .map(|f| f.lifecycle.as_str())
        });
        one(lc.map(Value::Str), v)
    }),
    ("owner", |c, v| {
        let owner = match c.identity {
            Some(i) => i.owner.as_deref(),
            None => c
                .event
                .midwatch
                .identity
                .as_ref()
                .and_then(|f| f.owner.as_deref()),
        };
        one(owner.map(Value::Str), v)
    }),
    ("mfa_enrolled", |c, v| {
        let mfa = match c.identity {
            Some(i) => Some(i.mfa_enrolled),
            None => c
                .event
                .midwatch
                .identity
                .as_ref()
                .and_then(|f| f.mfa_enrolled),
        };
        one(mfa.map(Value::Bool), v)
    }),
    ("display_name", |c, v| {
        one(
            c.identity
                .and_then(|i| i.display_name.as_deref())
                .map(Value::Str),
            v,
        )
    }),
    ("entitlements", |c, v| {
        list(
            c.identity
                .map(|i| i.entitlements.iter().map(|x| Value::Str(x))),
            v,
        )
    }),
    ("aliases", |c, v| {
        list(
            c.identity.map(|i| i.aliases.iter().map(|x| Value::Str(x))),
            v,
        )
    }),
    ("offboarded_at", |c, v| {
        one(c.identity.and_then(|i| i.offboarded_at).map(Value::Int), v)
    }),
    ("approved_apps", |c, v| {
        list(
            c.identity
                .and_then(|i| i.approved_scope.as_ref())
                .map(|s| s.apps.iter().map(|x| Value::Str(x))),
            v,
        )
    }),
    ("approved_actions", |c, v| {
        list(
            c.identity
                .and_then(|i| i.approved_scope.as_ref())
                .map(|s| s.actions.iter().map(|x| Value::Str(x))),
            v,
        )
    }),
    ("max_session_lifetime_s", |c, v| {
        one(
            c.identity
                .and_then(|i| i.approved_scope.as_ref())
                .and_then(|s| s.max_session_lifetime_s)
                .map(Value::UInt),
            v,
        )
    }),
];

const APP: &[(&str, Getter)] = &[
    ("id", |c, v| {
        let id = c
            .app
            .map(|a| a.id.as_str())
            .or_else(|| c.event.midwatch.app.as_ref().map(|f| f.uid.as_str()));
        one(id.map(Value::Str), v)
    }),
    ("managed", |c, v| {
        let managed = c
            .app
            .map(|a| a.managed)
            .or_else(|| c.event.midwatch.app.as_ref().map(|f| f.managed));
        one(managed.map(Value::Bool), v)
    }),
    ("sensitivity", |c, v| {
        let s = c
            .app
            .map(|a| a.sensitivity)
            .or_else(|| c.event.midwatch.app.as_ref().map(|f| f.sensitivity));
        one(s.map(|s| Value::UInt(u64::from(s))), v)
    }),
    ("domain", |c, v| {
        one(c.app.map(|a| Value::Str(&a.domain)), v)
    }),
    ("display_name", |c, v| {
        one(c.app.and_then(|a| a.name.as_deref()).map(Value::Str), v)
    }),
];

fn table_get(table: &[(&str, Getter)], name: &str) -> Option<Getter> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, g)| *g)
}

fn is_computed(path: &str) -> bool {
    if let Some(rest) = strip_prefix_ci(path, "session.") {
        return table_get(SESSION, rest).is_some()
            || strip_prefix_ci(rest, "actions.").is_some_and(|a| !a.is_empty());
    }
    if let Some(rest) = strip_prefix_ci(path, "identity.") {
        return table_get(IDENTITY, rest).is_some();
    }
    strip_prefix_ci(path, "app.").is_some_and(|rest| table_get(APP, rest).is_some())
}

/// A computed field's values, or `None` when `path` is not a computed field.
fn computed(
    ctx: &Context<'_>,
    path: &str,
    visit: &mut dyn FnMut(Value<'_>) -> bool,
) -> Option<Lookup> {
    if let Some(rest) = strip_prefix_ci(path, "session.") {
        if let Some(action) = strip_prefix_ci(rest, "actions.") {
            let n = ctx.session.and_then(|s| {
                s.action_counts
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(action))
                    .map(|(_, n)| *n)
            });
            return Some(one(n.map(Value::UInt), visit));
        }
        return Some(match table_get(SESSION, rest) {
            Some(get) => get(ctx, visit),
            None => Lookup::Missing,
        });
    }
    if let Some(rest) = strip_prefix_ci(path, "identity.") {
        return Some(match table_get(IDENTITY, rest) {
            Some(get) => get(ctx, visit),
            None => Lookup::Missing,
        });
    }
    let get = strip_prefix_ci(path, "app.").and_then(|rest| table_get(APP, rest))?;
    Some(get(ctx, visit))
}

/// What the walk is doing at a node.
#[derive(Clone, Copy)]
enum Mode<'p> {
    /// Looking for `path` from segment `from`.
    Seek { path: &'p FieldPath, from: usize },
    /// At the path: every value is handed over.
    Emit,
    /// Every non-null scalar is handed over.
    Leaves,
}

/// The outcome of a walk, shared by the serializers of one walk.
struct State<'v> {
    visit: &'v mut dyn FnMut(Value<'_>) -> bool,
    found: bool,
    matched: bool,
}

/// Walk `value`'s serialization in `mode`.
fn walk<T: Serialize + ?Sized>(
    value: &T,
    mode: Mode<'_>,
    visit: &mut dyn FnMut(Value<'_>) -> bool,
) -> Lookup {
    let mut state = State {
        visit,
        found: false,
        matched: false,
    };
    // `Stop` only ends the walk early once a value matched.
    let _ = value.serialize(Walker {
        st: &mut state,
        mode,
    });
    if state.found || state.matched {
        Lookup::Found {
            matched: state.matched,
        }
    } else {
        Lookup::Missing
    }
}

/// Ends a walk (as a serialization error) once the visitor accepted a value.
#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Stop {
        Stop
    }
}

struct Walker<'s, 'v, 'p> {
    st: &'s mut State<'v>,
    mode: Mode<'p>,
}

impl<'p> Walker<'_, '_, 'p> {
    fn scalar(self, v: Value<'_>) -> Result<(), Stop> {
        match self.mode {
            Mode::Seek { path, from } if from < path.len() => Ok(()),
            Mode::Leaves if v.is_null() => Ok(()),
            _ => {
                self.st.found = true;
                if (self.st.visit)(v) {
                    self.st.matched = true;
                    Err(Stop)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The mode for the children of a container at this node: a path that ends here emits
    /// the container (arrays their elements).
    fn container(&self) -> Mode<'p> {
        match self.mode {
            Mode::Seek { path, from } if from >= path.len() => Mode::Emit,
            m => m,
        }
    }
}

impl<'s, 'v, 'p> Serializer for Walker<'s, 'v, 'p> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = SeqWalker<'s, 'v, 'p>;
    type SerializeTuple = SeqWalker<'s, 'v, 'p>;
    type SerializeTupleStruct = SeqWalker<'s, 'v, 'p>;
    type SerializeTupleVariant = SeqWalker<'s, 'v, 'p>;
    type SerializeMap = MapWalker<'s, 'v, 'p>;
    type SerializeStruct = StructWalker<'s, 'v, 'p>;
    type SerializeStructVariant = StructWalker<'s, 'v, 'p>;

    fn serialize_bool(self, v: bool) -> Result<(), Stop> {
        self.scalar(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Stop> {
        self.scalar(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Stop> {
        self.scalar(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Stop> {
        self.scalar(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Stop> {
        self.scalar(Value::Int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<(), Stop> {
        self.scalar(Value::UInt(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Stop> {
        self.scalar(Value::UInt(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Stop> {
        self.scalar(Value::UInt(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Stop> {
        self.scalar(Value::UInt(v))
    }
    fn serialize_f32(self, v: f32) -> Result<(), Stop> {
        self.scalar(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Stop> {
        self.scalar(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Stop> {
        let mut buf = [0; 4];
        self.scalar(Value::Str(v.encode_utf8(&mut buf)))
    }
    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        self.scalar(Value::Str(v))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Stop> {
        self.scalar(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        self.scalar(Value::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        self.scalar(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Stop> {
        self.scalar(Value::Str(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<SeqWalker<'s, 'v, 'p>, Stop> {
        let mode = self.container();
        if matches!(mode, Mode::Emit) {
            self.st.found = true;
        }
        Ok(SeqWalker { st: self.st, mode })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqWalker<'s, 'v, 'p>, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<SeqWalker<'s, 'v, 'p>, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<SeqWalker<'s, 'v, 'p>, Stop> {
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapWalker<'s, 'v, 'p>, Stop> {
        let inner = self.serialize_struct("", 0)?;
        Ok(MapWalker { inner, key: None })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<StructWalker<'s, 'v, 'p>, Stop> {
        match self.container() {
            Mode::Emit => {
                // The path ends at an object: it exists, and holds no scalar.
                self.st.found = true;
                let matched = (self.st.visit)(Value::Object);
                if matched {
                    self.st.matched = true;
                    return Err(Stop);
                }
                Ok(StructWalker {
                    st: self.st,
                    mode: None,
                })
            }
            m => {
                let mode = match m {
                    Mode::Seek { path, from } => Some(Mode::Seek { path, from }),
                    _ => Some(Mode::Leaves),
                };
                Ok(StructWalker { st: self.st, mode })
            }
        }
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<StructWalker<'s, 'v, 'p>, Stop> {
        self.serialize_struct(name, len)
    }
}

struct SeqWalker<'s, 'v, 'p> {
    st: &'s mut State<'v>,
    mode: Mode<'p>,
}

impl SeqWalker<'_, '_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        value.serialize(Walker {
            st: self.st,
            mode: self.mode,
        })
    }
}

impl SerializeSeq for SeqWalker<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

impl ser::SerializeTuple for SeqWalker<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for SeqWalker<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for SeqWalker<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

/// Fields of an object; `mode` is `None` once the object itself was emitted.
struct StructWalker<'s, 'v, 'p> {
    st: &'s mut State<'v>,
    mode: Option<Mode<'p>>,
}

impl StructWalker<'_, '_, '_> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Stop> {
        match self.mode {
            Some(Mode::Seek { path, from }) if path.segment(from).eq_ignore_ascii_case(key) => {
                value.serialize(Walker {
                    st: self.st,
                    mode: Mode::Seek {
                        path,
                        from: from + 1,
                    },
                })
            }
            Some(Mode::Leaves) => value.serialize(Walker {
                st: self.st,
                mode: Mode::Leaves,
            }),
            _ => Ok(()),
        }
    }
}

impl SerializeStruct for StructWalker<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for StructWalker<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

/// Maps with string keys, walked like objects.
struct MapWalker<'s, 'v, 'p> {
    inner: StructWalker<'s, 'v, 'p>,
    key: Option<String>,
}

impl SerializeMap for MapWalker<'_, '_, '_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        self.key = key.serialize(KeyText).ok();
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        match self.key.take() {
            Some(k) => self.inner.field(&k, value),
            None => Ok(()),
        }
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

/// Serializes a map key to its text (strings and numbers; anything else is skipped).
struct KeyText;

impl Serializer for KeyText {
    type Ok = String;
    type Error = Stop;
    type SerializeSeq = ser::Impossible<String, Stop>;
    type SerializeTuple = ser::Impossible<String, Stop>;
    type SerializeTupleStruct = ser::Impossible<String, Stop>;
    type SerializeTupleVariant = ser::Impossible<String, Stop>;
    type SerializeMap = ser::Impossible<String, Stop>;
    type SerializeStruct = ser::Impossible<String, Stop>;
    type SerializeStructVariant = ser::Impossible<String, Stop>;

    fn serialize_bool(self, v: bool) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_f64(self, v: f64) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_char(self, v: char) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, Stop> {
        Ok(v.to_string())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_none(self) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, Stop> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Stop> {
        Err(Stop)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(Stop)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(Stop)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop)
    }
}

/// An event with every field set, so field names can be checked against the wire form.
/// Every struct literal names all its fields: a field added to the model fails to compile
/// here until the field space knows it.
mod sample {
    use midwatch_model::event::{Api, ApiService, AppFacts, IdentityFacts, ProductRef};
    use midwatch_model::{
        Actor, AuthFactor, AutonomousSystem, ClassUid, Clipboard, Device, DstEndpoint, Entity,
        Event, File, HttpRequest, IdentityKind, Location, Metadata, MidwatchExt, Product, RawRef,
        SessionRef, SrcEndpoint, StatusId, Url, User, WebResource,
    };

    fn user() -> User {
        User {
            uid: Some(String::new()),
            name: Some(String::new()),
            email_addr: Some(String::new()),
            type_id: Some(1),
            type_name: Some("".into()),
            has_mfa: Some(true),
        }
    }

    fn s() -> Option<String> {
        Some(String::new())
    }

    fn w() -> Option<midwatch_model::event::Word> {
        Some("".into())
    }

    pub(super) fn full_event() -> Event {
        Event {
            class_uid: ClassUid::Authentication,
            category_uid: 3,
            activity_id: 1,
            activity_name: w(),
            type_uid: 300_201,
            time: 0,
            severity_id: 1,
            status_id: StatusId::Success,
            status: w(),
            status_detail: s(),
            message: s(),
            metadata: Metadata {
                uid: String::new(),
                version: "".into(),
                product: ProductRef {
                    name: "".into(),
                    vendor_name: "".into(),
                },
                log_name: w(),
                event_code: s(),
                original_event_uid: s(),
                processed_time: Some(0),
                labels: vec![String::new()],
            },
            actor: Actor {
                user: Some(Box::new(user())),
                session: Some(Box::new(SessionRef {
                    uid: s(),
                    credential_uid: s(),
                    created_time: Some(0),
                    expiration_time: Some(0),
                    is_mfa: Some(true),
                    issuer: s(),
                })),
                app_name: s(),
                on_behalf_of: Some(Box::new(user())),
            },
            user: Some(Box::new(user())),
            src_endpoint: Some(Box::new(SrcEndpoint {
                ip: s(),
                location: Some(Location {
                    city: s(),
                    country: s(),
                    lat: Some(0.0),
                    long: Some(0.0),
                }),
                autonomous_system: Some(AutonomousSystem {
                    number: Some(0),
                    name: s(),
                }),
                isp: s(),
            })),
            dst_endpoint: Some(Box::new(DstEndpoint {
                hostname: s(),
                svc_name: s(),
            })),
            device: Some(Box::new(Device {
                uid: s(),
                is_managed: Some(true),
                os_name: s(),
            })),
            http_request: Some(Box::new(HttpRequest {
                user_agent: s(),
                http_method: s(),
                url: Some(Url {
                    hostname: s(),
                    path: s(),
                    url_string: s(),
                }),
            })),
            auth_protocol: w(),
            auth_protocol_id: Some(0),
            is_mfa: Some(true),
            auth_factors: vec![AuthFactor { factor_type: w() }],
            web_resources: vec![WebResource {
                type_name: s(),
                name: s(),
                uid: s(),
                url_string: s(),
            }],
            file: Some(Box::new(File {
                name: s(),
                size: Some(0),
                uid: s(),
                mime_type: s(),
            })),
            api: Some(Box::new(Api {
                operation: s(),
                service: Some(ApiService { name: w() }),
            })),
            privileges: vec![String::new()],
            entity: Some(Box::new(Entity {
                type_name: w(),
                name: s(),
                uid: s(),
                scopes: vec![String::new()],
            })),
            app: Some(Box::new(Product {
                name: s(),
                uid: s(),
                vendor_name: s(),
                permissions: vec![String::new()],
            })),
            clipboard: Some(Box::new(Clipboard {
                mime_type: s(),
                size: Some(0),
            })),
            midwatch: MidwatchExt {
                session_uid: s(),
                late: true,
                raw: Some(Box::new(RawRef {
                    source: "".into(),
                    sha256: midwatch_model::hash::Sha256Hex::default(),
                    line: Some(0),
                    offset: Some(0),
                })),
                identity: Some(Box::new(IdentityFacts {
                    uid: String::new(),
                    kind: IdentityKind::Human,
                    lifecycle: String::new(),
                    owner: s(),
                    mfa_enrolled: Some(true),
                })),
                app: Some(Box::new(AppFacts {
                    uid: String::new(),
                    managed: true,
                    sensitivity: 0,
                })),
                action: w(),
                count: Some(0),
            },
        }
    }
}
