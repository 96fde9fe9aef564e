//! Session stitching: which authenticated window each event belongs to, and how that
//! window's state evolves.
//!
//! The [`Stitcher`] is pure — no IO, no clock. Time is event time: a watermark (the newest
//! event time seen) drives idle timeouts, absolute lifetimes and the lateness window, so the
//! same events in the same order always yield the same sessions, whether they stream live or
//! are replayed from a file. Callers persist what [`Stitcher::take_dirty`] hands back.
//!
//! Keys: the source's own session id (`sid:<source>:<id>`), else the fingerprint of the
//! credential (`tok:sha256:<hex>`); a raw token never reaches this crate. Events without
//! either are not stitched.

use midwatch_model::hash::sha256_hex;
use midwatch_model::session::{Baseline, Seen};
use midwatch_model::{ClassUid, EndReason, Event, Session, SessionState, StatusId};

/// Session ids and keys come from untrusted input, so the maps keep a randomly seeded
/// hasher; foldhash is that, and several times faster than SipHash on short keys.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// Stitching configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// A session with no event for this long is closed (`idle_timeout`).
    pub idle_timeout_ms: i64,
    /// A session older than this is closed however busy it is (`lifetime`).
    pub absolute_lifetime_ms: i64,
    /// How far behind the newest event an event may arrive and still be placed normally.
    pub lateness_ms: i64,
    /// Most distinct values remembered per `seen` list (devices, IPs, …).
    pub max_seen: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            idle_timeout_ms: 30 * 60_000,
            absolute_lifetime_ms: 12 * 3_600_000,
            lateness_ms: 5 * 60_000,
            max_seen: 64,
        }
    }
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The session the event was stitched into, if any.
    pub session_id: Option<String>,
    /// The event arrived after the lateness window.
    pub late: bool,
    /// The event opened a new session.
    pub opened: bool,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sessions opened.
    pub opened: u64,
    /// Sessions closed or terminated.
    pub closed: u64,
    /// Events stitched.
    pub stitched: u64,
    /// Events without a session key.
    pub unkeyed: u64,
    /// Events that arrived after the lateness window.
    pub late: u64,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    /// Time of the event the baseline was taken from, and whether it was a login.
    baseline_time: i64,
    baseline_from_login: bool,
}

/// The session state machine over a stream of events.
#[derive(Debug)]
pub struct Stitcher {
    cfg: Config,
    sessions: HashMap<String, Entry>,
    by_key: HashMap<String, Vec<String>>,
    by_identity: HashMap<String, Vec<String>>,
    watermark: i64,
    last_sweep: i64,
    dirty: HashSet<String>,
    stats: Stats,
}

/// The stitching key of an event, if it has one.
pub fn session_key(event: &Event) -> Option<String> {
    let r = event.session_ref()?;
    if let Some(uid) = r.uid.as_deref().filter(|u| !u.is_empty()) {
        let source = event.metadata.log_name.as_deref().unwrap_or("unknown");
        return Some(format!("sid:{source}:{uid}"));
    }
    r.credential_uid
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| format!("tok:{c}"))
}

/// The identity an event is about for stitching: the inventory identity it resolved to,
/// else the actor's own uid.
fn event_identity(e: &Event) -> Option<&str> {
    e.midwatch
        .identity
        .as_ref()
        .map(|i| i.uid.as_str())
        .or_else(|| e.actor_uid())
}

/// The session id midwatch gives the session with `key` that began at `started`.
pub fn session_id(key: &str, started: i64) -> String {
    let h = sha256_hex(format!("{key}\0{started}").as_bytes());
    format!("ses_{}", h.get(..20).unwrap_or(&h))
}

/// Remember `v` in `list` unless it is there already or the list is full. Compares before
/// allocating: almost every event repeats what its session has already seen.
fn push_seen<T: PartialEq + ?Sized + ToOwned>(list: &mut Vec<T::Owned>, v: Option<&T>, max: usize)
where
    T::Owned: std::borrow::Borrow<T>,
{
    use std::borrow::Borrow;
    if let Some(v) = v
        && list.len() < max
        && !list.iter().any(|x| x.borrow() == v)
    {
        list.push(v.to_owned());
    }
}

fn is_login(e: &Event) -> bool {
    e.class_uid == ClassUid::Authentication && e.activity_id == 1
}

fn baseline_of(e: &Event) -> Baseline {
    Baseline {
        device_id: e.device_id().map(str::to_string),
        managed: e.device.as_ref().and_then(|d| d.is_managed),
        ip: e.src_ip().map(str::to_string),
        asn: e.src_asn(),
        country: e.src_country().map(str::to_string),
        user_agent: e.user_agent().map(str::to_string),
    }
}

impl Stitcher {
    /// A stitcher with `cfg` and no sessions.
    pub fn new(cfg: Config) -> Stitcher {
        Stitcher {
            cfg,
            sessions: HashMap::default(),
            by_key: HashMap::default(),
            by_identity: HashMap::default(),
            watermark: i64::MIN,
            last_sweep: i64::MIN,
            dirty: HashSet::default(),
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Newest event time seen.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Sessions held in memory (live ones and recently closed ones kept for late events).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is held.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Number of live sessions held.
    pub fn live(&self) -> usize {
        self.sessions
            .values()
            .filter(|e| e.session.state.is_live())
            .count()
    }

    /// A session held in memory.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id).map(|e| &e.session)
    }

    /// Put back live sessions loaded from the store after a restart.
    pub fn restore(&mut self, sessions: impl IntoIterator<Item = Session>) {
        for s in sessions {
            self.watermark = self.watermark.max(s.last_seen);
            let ids = self.by_key.entry(s.key.clone()).or_default();
            if !ids.contains(&s.id) {
                ids.push(s.id.clone());
            }
            if let Some(identity) = &s.identity {
                let ids = self.by_identity.entry(identity.clone()).or_default();
                if !ids.contains(&s.id) {
                    ids.push(s.id.clone());
                }
            }
            self.sessions.insert(
                s.id.clone(),
                Entry {
                    baseline_time: s.started,
                    baseline_from_login: true,
                    session: s,
                },
            );
        }
    }

    /// Set a session's state from outside (a response action); ending states close it now.
    pub fn set_state(&mut self, id: &str, state: SessionState, at: i64) -> bool {
        let Some(entry) = self.sessions.get_mut(id) else {
            return false;
        };
        let s = &mut entry.session;
        if !s.state.is_live() {
            return false;
        }
        s.state = state;
        if !state.is_live() {
            s.ended = Some(at.max(s.last_seen));
            s.end_reason = Some(EndReason::Revoked);
            self.stats.closed += 1;
        }
        self.dirty.insert(id.to_string());
        true
    }

    /// Count a finding against a held session: its risk rises by `risk_delta` (capped at
    /// 100) and, for a new finding, its finding count by one. False if not held.
    pub fn add_finding(&mut self, id: &str, risk_delta: u32, new: bool) -> bool {
        let Some(entry) = self.sessions.get_mut(id) else {
            return false;
        };
        let s = &mut entry.session;
        s.risk = s.risk.saturating_add(risk_delta).min(100);
        if new {
            s.findings = s.findings.saturating_add(1);
        }
        self.dirty.insert(id.to_string());
        true
    }

    /// Sessions changed since the last call, for the caller to persist.
    pub fn take_dirty(&mut self) -> Vec<Session> {
        // Sorted, so what is persisted (and in which order) never depends on hashing.
        let mut ids: Vec<String> = self.dirty.drain().collect();
        ids.sort_unstable();
        ids.iter()
            .filter_map(|id| self.sessions.get(id).map(|e| e.session.clone()))
            .collect()
    }

    /// Stitch one event: find or open its session, update the session, and record the
    /// placement on the event itself (`midwatch.session_uid`, `midwatch.late`).
    pub fn ingest(&mut self, event: &mut Event) -> Placement {
        let t = event.time;
        let late =
            self.watermark != i64::MIN && t < self.watermark.saturating_sub(self.cfg.lateness_ms);
        if late {
            self.stats.late += 1;
        }
        event.midwatch.late = late;
        if t > self.watermark {
            self.watermark = t;
        }
        let Some(key) = session_key(event) else {
            // No session of its own (many audit records carry none): join the identity's
            // session it evidently belongs to, if one matches by app, network or device.
            let joined = self.by_identity_match(event);
            if let Some(id) = &joined {
                self.apply(id, event, late);
                self.stats.stitched += 1;
            } else {
                self.stats.unkeyed += 1;
            }
            event.midwatch.session_uid.clone_from(&joined);
            self.maybe_sweep();
            return Placement {
                session_id: joined,
                late,
                opened: false,
            };
        };

        let mut opened = false;
        let target = if late {
            self.covering(&key, t)
        } else {
            match self.covering(&key, t) {
                Some(id) => Some(id),
                None => {
                    self.close_stale(&key, t);
                    match self.current_live(&key) {
                        Some(id) => Some(id),
                        None => {
                            opened = true;
                            Some(self.open(&key, event))
                        }
                    }
                }
            }
        };
        let Some(id) = target else {
            event.midwatch.session_uid = None;
            self.maybe_sweep();
            return Placement {
                session_id: None,
                late,
                opened,
            };
        };
        self.apply(&id, event, late);
        event.midwatch.session_uid = Some(id.clone());
        self.stats.stitched += 1;
        self.maybe_sweep();
        Placement {
            session_id: Some(id),
            late,
            opened,
        }
    }

    /// The session of `key` whose window covers time `t`: a live one not yet timed out at
    /// `t`, or a closed one that ended at or after `t`.
    fn covering(&self, key: &str, t: i64) -> Option<String> {
        let ids = self.by_key.get(key)?;
        let window = |id: &String, slack: i64| {
            let s = &self.sessions.get(id)?.session;
            let until = match s.ended {
                Some(end) => end,
                None => (s.last_seen.saturating_add(self.cfg.idle_timeout_ms))
                    .min(s.started.saturating_add(self.cfg.absolute_lifetime_ms)),
            };
            (t >= s.started.saturating_sub(slack) && t <= until).then(|| id.clone())
        };
        // A session that truly spans `t` first; else one that began a little after it
        // (the event beat the login in transit).
        ids.iter().rev().find_map(|id| window(id, 0)).or_else(|| {
            ids.iter()
                .rev()
                .find_map(|id| window(id, self.cfg.lateness_ms))
        })
    }

    /// The held session of the event's identity whose window covers the event and that
    /// shares its app, source IP or device; the best match wins (app counts most), ties go
    /// to the most recent session.
    fn by_identity_match(&self, e: &Event) -> Option<String> {
        let identity = event_identity(e)?;
        let ids = self.by_identity.get(identity)?;
        let t = e.time;
        let mut best: Option<(u8, i64, &String)> = None;
        for id in ids {
            let Some(entry) = self.sessions.get(id) else {
                continue;
            };
            let s = &entry.session;
            let until = match s.ended {
                Some(end) => end,
                None => (s.last_seen.saturating_add(self.cfg.idle_timeout_ms))
                    .min(s.started.saturating_add(self.cfg.absolute_lifetime_ms)),
            };
            if t < s.started.saturating_sub(self.cfg.lateness_ms) || t > until {
                continue;
            }
            let mut score = 0;
            if e.app_domain().is_some() && s.app.as_deref() == e.app_domain() {
                score += 4;
            }
            if e.src_ip()
                .is_some_and(|ip| s.seen.ips.iter().any(|x| x == ip))
            {
                score += 2;
            }
            if e.device_id()
                .is_some_and(|d| s.seen.devices.iter().any(|x| x == d))
            {
                score += 2;
            }
            if score == 0 {
                continue;
            }
            if best.is_none_or(|(bs, bt, _)| (score, s.started) > (bs, bt)) {
                best = Some((score, s.started, id));
            }
        }
        best.map(|(_, _, id)| id.clone())
    }

    fn current_live(&self, key: &str) -> Option<String> {
        let ids = self.by_key.get(key)?;
        ids.last()
            .filter(|id| {
                self.sessions
                    .get(*id)
                    .is_some_and(|e| e.session.state.is_live())
            })
            .cloned()
    }

    /// Close the live session of `key` if time `t` is past its idle timeout or lifetime.
    fn close_stale(&mut self, key: &str, t: i64) {
        let Some(id) = self.current_live(key) else {
            return;
        };
        if let Some(entry) = self.sessions.get_mut(&id)
            && let Some((end, reason)) = Self::expiry(&self.cfg, &entry.session, t)
        {
            Self::close(&mut entry.session, end, reason);
            self.stats.closed += 1;
            self.dirty.insert(id);
        }
    }

    /// When and why a live session has ended by time `now`, if it has.
    fn expiry(cfg: &Config, s: &Session, now: i64) -> Option<(i64, EndReason)> {
        let idle_end = s.last_seen.saturating_add(cfg.idle_timeout_ms);
        let life_end = s.started.saturating_add(cfg.absolute_lifetime_ms);
        if now > life_end && life_end <= idle_end {
            Some((life_end, EndReason::Lifetime))
        } else if now > idle_end {
            Some((idle_end, EndReason::IdleTimeout))
        } else if now > life_end {
            Some((life_end, EndReason::Lifetime))
        } else {
            None
        }
    }

    fn close(s: &mut Session, end: i64, reason: EndReason) {
        s.ended = Some(end);
        s.end_reason = Some(reason);
        s.state = match reason {
            EndReason::Revoked => SessionState::Terminated,
            _ => SessionState::Closed,
        };
    }

    fn open(&mut self, key: &str, e: &Event) -> String {
        let mut id = session_id(key, e.time);
        let mut n = 1;
        while self.sessions.contains_key(&id) {
            n += 1;
            id = session_id(&format!("{key}#{n}"), e.time);
        }
        let source = e
            .metadata
            .log_name
            .as_deref()
            .unwrap_or_default()
            .to_string();
        let session = Session {
            id: id.clone(),
            key: key.to_string(),
            source: source.clone(),
            sources: vec![source],
            identity: None,
            identity_kind: None,
            on_behalf_of: None,
            app: None,
            app_id: None,
            started: e.time,
            last_seen: e.time,
            ended: None,
            end_reason: None,
            state: SessionState::Active,
            auth_method: None,
            mfa: None,
            baseline: baseline_of(e),
            seen: Seen::default(),
            privileges_gained: Vec::new(),
            action_counts: Default::default(),
            event_count: 0,
            late_events: 0,
            risk: 0,
            findings: 0,
        };
        self.sessions.insert(
            id.clone(),
            Entry {
                session,
                baseline_time: e.time,
                baseline_from_login: is_login(e),
            },
        );
        self.by_key
            .entry(key.to_string())
            .or_default()
            .push(id.clone());
        self.stats.opened += 1;
        id
    }

    fn apply(&mut self, id: &str, e: &Event, late: bool) {
        let max = self.cfg.max_seen;
        let Some(entry) = self.sessions.get_mut(id) else {
            return;
        };
        let s = &mut entry.session;
        s.event_count += 1;
        if let Some(src) = e.metadata.log_name.as_deref()
            && !s.sources.iter().any(|x| x == src)
        {
            s.sources.push(src.to_string());
        }
        if let Some(action) = e.action() {
            match s.action_counts.get_mut(action) {
                Some(n) => *n += 1,
                None => {
                    s.action_counts.insert(action.to_string(), 1);
                }
            }
        }
        if s.identity.is_none() {
            s.identity = event_identity(e).map(str::to_string);
            if let Some(identity) = &s.identity {
                let ids = self.by_identity.entry(identity.clone()).or_default();
                if !ids.iter().any(|x| x == id) {
                    ids.push(id.to_string());
                }
            }
            s.identity_kind = e
                .midwatch
                .identity
                .as_ref()
                .map(|i| i.kind)
                .or_else(|| e.actor.user.as_ref().and_then(|u| u.kind()));
        }
        if s.on_behalf_of.is_none() {
            s.on_behalf_of = e.actor.on_behalf_of.as_ref().and_then(|u| u.uid.clone());
        }
        if s.app.is_none() {
            s.app = e.app_domain().map(str::to_string);
        }
        if s.app_id.is_none() {
            s.app_id = e.midwatch.app.as_ref().map(|a| a.uid.clone());
        }
        push_seen(
            &mut s.seen.devices,
            e.device_id().map(str::to_string).as_ref(),
            max,
        );
        push_seen(
            &mut s.seen.ips,
            e.src_ip().map(str::to_string).as_ref(),
            max,
        );
        push_seen(&mut s.seen.asns, e.src_asn().as_ref(), max);
        push_seen(
            &mut s.seen.countries,
            e.src_country().map(str::to_string).as_ref(),
            max,
        );
        push_seen(
            &mut s.seen.user_agents,
            e.user_agent().map(str::to_string).as_ref(),
            max,
        );
        if late {
            s.late_events += 1;
            Self::mark(&mut self.dirty, id);
            return;
        }
        if e.time < s.started {
            s.started = e.time;
        }
        if e.time > s.last_seen {
            s.last_seen = e.time;
        }
        // The baseline is the login's view of device and network; before a login is seen,
        // the earliest event's.
        let login = is_login(e);
        let earlier = e.time < entry.baseline_time;
        let replace = if login {
            !entry.baseline_from_login || earlier
        } else {
            !entry.baseline_from_login && earlier
        };
        if replace {
            s.baseline = baseline_of(e);
            entry.baseline_time = e.time;
            entry.baseline_from_login = login;
        }
        if login && e.status_id != StatusId::Failure {
            if e.auth_protocol.is_some() {
                s.auth_method = e.auth_protocol.as_deref().map(str::to_string);
            }
            if e.is_mfa.is_some() {
                s.mfa = e.is_mfa;
            }
        }
        let success = e.status_id != StatusId::Failure;
        match (e.class_uid, e.activity_id) {
            (ClassUid::UserAccessManagement, 1 | 3) if success => {
                for p in &e.privileges {
                    if !s.privileges_gained.contains(p) {
                        s.privileges_gained.push(p.clone());
                    }
                }
            }
            // A step-up is a completed MFA challenge after the session began; a push that
            // was only sent (status unknown) is not one.
            (ClassUid::Authentication, 99)
                if e.status_id == StatusId::Success
                    && e.action() == Some("mfa_challenge")
                    && s.state == SessionState::Active
                    && e.time > s.started =>
            {
                s.state = SessionState::SteppedUp;
            }
            (ClassUid::Authentication, 2) if s.state.is_live() => {
                let reason = match e.action() {
                    Some("session_revoked") => EndReason::Revoked,
                    Some("session_expired") => EndReason::Expired,
                    _ => EndReason::Logout,
                };
                Self::close(s, e.time, reason);
                self.stats.closed += 1;
            }
            _ => {}
        }
        Self::mark(&mut self.dirty, id);
    }

    fn mark(dirty: &mut HashSet<String>, id: &str) {
        if !dirty.contains(id) {
            dirty.insert(id.to_string());
        }
    }

    /// Sweep as event time advances, but not on every event: each sweep visits every
    /// held session, and a session closes no earlier than its idle timeout anyway.
    fn maybe_sweep(&mut self) {
        let every = (self.cfg.idle_timeout_ms.min(self.cfg.lateness_ms) / 2).max(60_000);
        if self.watermark.saturating_sub(self.last_sweep) >= every {
            self.sweep(self.watermark);
        }
    }

    /// Close every live session that has timed out by event time `now`, and forget closed
    /// sessions too old to receive late events. Call with the watermark, or with wall-clock
    /// time when sources are live.
    pub fn sweep(&mut self, now: i64) {
        self.last_sweep = now;
        let cfg = self.cfg;
        let mut forget = Vec::new();
        for (id, entry) in &mut self.sessions {
            let s = &mut entry.session;
            if s.state.is_live() {
                if let Some((end, reason)) = Self::expiry(&cfg, s, now) {
                    Self::close(s, end, reason);
                    self.stats.closed += 1;
                    self.dirty.insert(id.clone());
                }
            } else if s.ended.is_some_and(|end| {
                now > end
                    .saturating_add(cfg.lateness_ms)
                    .saturating_add(cfg.idle_timeout_ms)
            }) && !self.dirty.contains(id)
            {
                forget.push((id.clone(), s.key.clone()));
            }
        }
        for (id, key) in forget {
            if let Some(identity) = self.sessions.remove(&id).and_then(|e| e.session.identity)
                && let Some(ids) = self.by_identity.get_mut(&identity)
            {
                ids.retain(|x| x != &id);
                if ids.is_empty() {
                    self.by_identity.remove(&identity);
                }
            }
            if let Some(ids) = self.by_key.get_mut(&key) {
                ids.retain(|x| x != &id);
                if ids.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }
}
