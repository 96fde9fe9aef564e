//! The sensor event format, as the simulator writes it.
//!
//! These structs mirror the `Wire` struct of `midwatch_sources::sensor` field for field, so
//! whatever the simulator emits is accepted by the sensor source unchanged; the integration
//! tests parse every generated line with it. Empty fields are omitted, as a real sensor would.
//! Shared parts of an event (who, which session, which device and network) are borrowed, so
//! building an event costs little more than writing it.

use serde::Serialize;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdentityW {
    /// Identity id or alias as the source knows it.
    pub id: String,
    /// `human`, `service_account`, `api_key` or `ai_agent`.
    pub kind: &'static str,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// For delegated actors: the human they act for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
}

/// The session an event belongs to: a browser session id or a token fingerprint.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SessionW {
    /// Browser session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// SHA-256 hex of the bearer token (never the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    /// When the token was issued (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When the token expires (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl SessionW {
    /// A browser session.
    pub fn browser(id: String) -> SessionW {
        SessionW {
            id: Some(id),
            ..SessionW::default()
        }
    }

    /// The key midwatch stitches this session by: the id, or `sha256:<hex>` of the token.
    pub fn key(&self) -> String {
        match (&self.id, &self.token_sha256) {
            (Some(id), _) => id.clone(),
            (None, Some(h)) => format!("sha256:{h}"),
            (None, None) => String::new(),
        }
    }
}

/// The application an event happened in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppW {
    /// Host name.
    pub domain: String,
    /// Display name.
    pub name: String,
}

/// The device an event came from.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct DeviceW {
    /// Stable device id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Managed by the organisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    /// Operating system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// HTTP user agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// The network an event came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkW {
    /// Source IP address.
    pub ip: String,
    /// Autonomous system number.
    pub asn: u32,
    /// Autonomous system organisation.
    pub asn_org: String,
    /// ISO country code.
    pub country: String,
    /// City.
    pub city: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// Authentication details of a login or MFA challenge.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct AuthW {
    /// `sso`, `password`, `passkey`, `magic_link`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    /// Whether MFA was satisfied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa: Option<bool>,
    /// The MFA factor (`push`, `webauthn`, `totp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor: Option<&'static str>,
}

/// The object acted on.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ResourceW {
    /// Resource type (`repository`, `document`, `secret`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Resource name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Resource URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A file moved or shared.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct FileW {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type.
    pub mime: &'static str,
}

/// An OAuth grant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OauthW {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client name.
    pub client_name: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

/// A browser extension.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtensionW {
    /// Extension id.
    pub id: String,
    /// Extension name.
    pub name: String,
    /// Requested permissions (omitted when referring to an installed extension).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
}

/// Clipboard metadata (never the content).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipboardW {
    /// MIME type.
    pub mime: &'static str,
    /// Size in bytes.
    pub size: u64,
}

/// An API operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiW {
    /// Operation name.
    pub operation: String,
    /// Service name.
    pub service: String,
    /// HTTP method.
    pub method: &'static str,
}

/// One sensor event being built. `id` and `ts` are filled in by [`crate::sink::Sink::emit`].
#[derive(Debug, Clone, Serialize)]
pub struct Ev<'a> {
    /// Event time, epoch ms (written as `ts`).
    #[serde(skip)]
    pub ts_ms: i64,
    /// Format version.
    pub v: u32,
    /// Event id.
    pub id: String,
    /// Event time, RFC 3339.
    pub ts: String,
    /// Sensor event type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `success`, `failure`, `denied`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// Why, for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Who.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<&'a IdentityW>,
    /// Which session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<&'a SessionW>,
    /// Which app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<&'a AppW>,
    /// From which device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<&'a DeviceW>,
    /// From which network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<&'a NetworkW>,
    /// Authentication details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthW>,
    /// Page or endpoint URL, without query string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The object acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceW>,
    /// The file moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileW>,
    /// How many records or files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Privileges granted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub privileges: Vec<&'static str>,
    /// The identity acted upon (grants, shares).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// OAuth grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OauthW>,
    /// Browser extension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<&'a ExtensionW>,
    /// Clipboard metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clipboard: Option<ClipboardW>,
    /// API operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiW>,
}

impl<'a> Ev<'a> {
    /// A bare event of `kind` at `ts_ms`.
    pub fn new(kind: &'static str, ts_ms: i64) -> Ev<'a> {
        Ev {
            ts_ms,
            v: 1,
            id: String::new(),
            ts: String::new(),
            kind,
            outcome: None,
            reason: None,
            identity: None,
            session: None,
            app: None,
            device: None,
            network: None,
            auth: None,
            url: None,
            resource: None,
            file: None,
            count: None,
            privileges: Vec::new(),
            target: None,
            oauth: None,
            extension: None,
            clipboard: None,
            api: None,
        }
    }
}
