//! Fixed tables the simulated organisation is drawn from: apps, places and their networks,
//! names, user agents, browser extensions, OAuth clients and the non-human workloads.
//!
//! Kept apart from the generation logic so the world can be read (and extended) at a
//! glance. All domains other than the SaaS products themselves are fictional
//! (`example.com`, `example-org`, …); network numbers are plausible for their providers but
//! the addresses are made up.

use crate::wire::NetworkW;

/// What an app is for; decides its pages, files and actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// Source code hosting.
    Code,
    /// Customer relationship management.
    Crm,
    /// Human resources.
    Hr,
    /// Chat.
    Chat,
    /// Issue tracker and wiki.
    Tracker,
    /// Cloud provider console.
    Cloud,
    /// Document storage (Google).
    Docs,
    /// Document storage (Microsoft).
    Sharepoint,
    /// Note taking.
    Notes,
    /// File sync.
    FileSync,
    /// Small AI tool.
    AiTool,
}

/// An application in the simulated organisation.
#[derive(Debug)]
pub struct AppSpec {
    /// Inventory id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Inventory domain.
    pub domain: &'static str,
    /// Host the browser shows (the inventory domain or a subdomain of it).
    pub host: &'static str,
    /// Behind SSO.
    pub managed: bool,
    /// 0 (public) to 3 (critical).
    pub sensitivity: u8,
    /// What it is for.
    pub kind: AppKind,
}

/// Every app: managed SaaS behind SSO first, then shadow SaaS.
pub const APPS: &[AppSpec] = &[
    AppSpec {
        id: "github",
        name: "GitHub",
        domain: "github.com",
        host: "github.com",
        managed: true,
        sensitivity: 3,
        kind: AppKind::Code,
    },
    AppSpec {
        id: "salesforce",
        name: "Salesforce",
        domain: "salesforce.com",
        host: "example.my.salesforce.com",
        managed: true,
        sensitivity: 2,
        kind: AppKind::Crm,
    },
    AppSpec {
        id: "workday",
        name: "Workday",
        domain: "workday.com",
        host: "example.workday.com",
        managed: true,
        sensitivity: 3,
        kind: AppKind::Hr,
    },
    AppSpec {
        id: "slack",
        name: "Slack",
        domain: "slack.com",
        host: "example.slack.com",
        managed: true,
        sensitivity: 1,
        kind: AppKind::Chat,
    },
    AppSpec {
        id: "atlassian",
        name: "Jira & Confluence",
        domain: "atlassian.net",
        host: "example.atlassian.net",
        managed: true,
        sensitivity: 2,
        kind: AppKind::Tracker,
    },
    AppSpec {
        id: "aws",
        name: "AWS Console",
        domain: "aws.amazon.com",
        host: "console.aws.amazon.com",
        managed: true,
        sensitivity: 3,
        kind: AppKind::Cloud,
    },
    AppSpec {
        id: "google-drive",
        name: "Google Drive",
        domain: "drive.google.com",
        host: "drive.google.com",
        managed: true,
        sensitivity: 2,
        kind: AppKind::Docs,
    },
    AppSpec {
        id: "sharepoint",
        name: "Microsoft SharePoint",
        domain: "sharepoint.com",
        host: "example.sharepoint.com",
        managed: true,
        sensitivity: 2,
        kind: AppKind::Sharepoint,
    },
    AppSpec {
        id: "notion",
        name: "Notion",
        domain: "notion.so",
        host: "www.notion.so",
        managed: false,
        sensitivity: 1,
        kind: AppKind::Notes,
    },
    AppSpec {
        id: "dropbox",
        name: "Dropbox",
        domain: "dropbox.com",
        host: "www.dropbox.com",
        managed: false,
        sensitivity: 2,
        kind: AppKind::FileSync,
    },
    AppSpec {
        id: "notetaker-ai",
        name: "NoteTaker AI",
        domain: "notetaker.ai",
        host: "app.notetaker.ai",
        managed: false,
        sensitivity: 1,
        kind: AppKind::AiTool,
    },
];

/// An internet service provider or hosting network.
#[derive(Debug)]
pub struct Isp {
    /// AS number.
    pub asn: u32,
    /// AS organisation.
    pub org: &'static str,
    /// First two octets of its addresses here.
    pub prefix: [u8; 2],
}

/// A city and the networks found there.
#[derive(Debug)]
pub struct Place {
    /// City.
    pub city: &'static str,
    /// ISO country code.
    pub country: &'static str,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// UTC offset in January, minutes.
    pub tz_min: i32,
    /// Networks.
    pub isps: &'static [Isp],
}

macro_rules! isp {
    ($asn:expr, $org:expr, $a:expr, $b:expr) => {
        Isp {
            asn: $asn,
            org: $org,
            prefix: [$a, $b],
        }
    };
}

/// Cities with an office; staff live nearby on residential networks.
pub static OFFICES: [Place; 7] = [
    Place {
        city: "Lisbon",
        country: "PT",
        lat: 38.7223,
        lon: -9.1393,
        tz_min: 0,
        isps: &[
            isp!(3243, "MEO", 85, 243),
            isp!(2860, "NOS Comunicacoes", 89, 180),
        ],
    },
    Place {
        city: "London",
        country: "GB",
        lat: 51.5072,
        lon: -0.1276,
        tz_min: 0,
        isps: &[
            isp!(2856, "British Telecommunications PLC", 86, 151),
            isp!(5089, "Virgin Media Limited", 82, 24),
        ],
    },
    Place {
        city: "Berlin",
        country: "DE",
        lat: 52.52,
        lon: 13.405,
        tz_min: 60,
        isps: &[
            isp!(3320, "Deutsche Telekom AG", 91, 54),
            isp!(6805, "Telefonica Germany", 78, 52),
        ],
    },
    Place {
        city: "New York",
        country: "US",
        lat: 40.7128,
        lon: -74.006,
        tz_min: -300,
        isps: &[
            isp!(701, "Verizon Business", 71, 167),
            isp!(12271, "Charter Communications", 67, 243),
        ],
    },
    Place {
        city: "San Francisco",
        country: "US",
        lat: 37.7749,
        lon: -122.4194,
        tz_min: -480,
        isps: &[
            isp!(7922, "Comcast Cable Communications", 73, 170),
            isp!(7018, "AT&T Services", 99, 41),
        ],
    },
    Place {
        city: "Singapore",
        country: "SG",
        lat: 1.3521,
        lon: 103.8198,
        tz_min: 480,
        isps: &[
            isp!(9506, "Singtel Fibre Broadband", 116, 87),
            isp!(4773, "MobileOne Ltd", 203, 116),
        ],
    },
    Place {
        city: "Bengaluru",
        country: "IN",
        lat: 12.9716,
        lon: 77.5946,
        tz_min: 330,
        isps: &[
            isp!(24560, "Bharti Airtel Ltd", 122, 171),
            isp!(55836, "Reliance Jio Infocomm", 49, 36),
        ],
    },
];

/// How likely a new hire is to sit at each office (same order as [`OFFICES`]).
pub const OFFICE_WEIGHTS: &[u32] = &[30, 15, 15, 15, 12, 7, 6];

/// Where staff travel to: hotel and airport networks.
pub const TRAVEL: &[Place] = &[
    Place {
        city: "Madrid",
        country: "ES",
        lat: 40.4168,
        lon: -3.7038,
        tz_min: 60,
        isps: &[isp!(3352, "Telefonica de Espana", 80, 28)],
    },
    Place {
        city: "Paris",
        country: "FR",
        lat: 48.8566,
        lon: 2.3522,
        tz_min: 60,
        isps: &[isp!(3215, "Orange S.A.", 90, 63)],
    },
    Place {
        city: "Chicago",
        country: "US",
        lat: 41.8781,
        lon: -87.6298,
        tz_min: -360,
        isps: &[isp!(7922, "Comcast Cable Communications", 98, 213)],
    },
    Place {
        city: "Toronto",
        country: "CA",
        lat: 43.6532,
        lon: -79.3832,
        tz_min: -300,
        isps: &[isp!(577, "Bell Canada", 70, 52)],
    },
    Place {
        city: "Tokyo",
        country: "JP",
        lat: 35.6762,
        lon: 139.6503,
        tz_min: 540,
        isps: &[isp!(2516, "KDDI Corporation", 106, 72)],
    },
    Place {
        city: "Sydney",
        country: "AU",
        lat: -33.8688,
        lon: 151.2093,
        tz_min: 660,
        isps: &[isp!(1221, "Telstra Limited", 101, 160)],
    },
];

/// Hosting and proxy networks attackers operate from.
pub const HOSTILE: &[Place] = &[
    Place {
        city: "Amsterdam",
        country: "NL",
        lat: 52.3676,
        lon: 4.9041,
        tz_min: 60,
        isps: &[isp!(14061, "DigitalOcean, LLC", 167, 99)],
    },
    Place {
        city: "Bucharest",
        country: "RO",
        lat: 44.4268,
        lon: 26.1025,
        tz_min: 120,
        isps: &[isp!(9009, "M247 Europe SRL", 185, 206)],
    },
    Place {
        city: "Chisinau",
        country: "MD",
        lat: 47.0105,
        lon: 28.8638,
        tz_min: 120,
        isps: &[isp!(200_019, "AlexHost SRL", 176, 123)],
    },
    Place {
        city: "Sao Paulo",
        country: "BR",
        lat: -23.5505,
        lon: -46.6333,
        tz_min: -180,
        isps: &[isp!(28573, "Claro NXT Telecomunicacoes", 177, 92)],
    },
    Place {
        city: "Hanoi",
        country: "VN",
        lat: 21.0278,
        lon: 105.8342,
        tz_min: 420,
        isps: &[isp!(7552, "Viettel Group", 113, 185)],
    },
    Place {
        city: "Lagos",
        country: "NG",
        lat: 6.5244,
        lon: 3.3792,
        tz_min: 60,
        isps: &[isp!(36873, "Airtel Networks Limited", 105, 112)],
    },
];

/// Cloud regions non-human identities run in.
pub static CLOUD: [Place; 3] = [
    Place {
        city: "Ashburn",
        country: "US",
        lat: 39.0438,
        lon: -77.4874,
        tz_min: -300,
        isps: &[isp!(16509, "Amazon.com, Inc.", 52, 44)],
    },
    Place {
        city: "Council Bluffs",
        country: "US",
        lat: 41.2619,
        lon: -95.8608,
        tz_min: -360,
        isps: &[isp!(15169, "Google LLC", 34, 123)],
    },
    Place {
        city: "Dublin",
        country: "IE",
        lat: 53.3498,
        lon: -6.2603,
        tz_min: 0,
        isps: &[isp!(8075, "Microsoft Corporation", 20, 107)],
    },
];

/// The corporate VPN / secure web gateway egress.
pub const VPN: Isp = isp!(62044, "Zscaler, Inc.", 165, 225);

/// A network at `place` on `isp`, with host octets `c.d` and a small location jitter.
pub fn network(place: &Place, isp: &Isp, c: u8, d: u8, jitter: (f64, f64)) -> NetworkW {
    let [a, b] = isp.prefix;
    NetworkW {
        ip: format!("{a}.{b}.{c}.{d}"),
        asn: isp.asn,
        asn_org: isp.org.to_string(),
        country: place.country.to_string(),
        city: place.city.to_string(),
        lat: round4(place.lat + jitter.0),
        lon: round4(place.lon + jitter.1),
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Given names.
pub const FIRST_NAMES: &[&str] = &[
    "Alice", "Bruno", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kavya", "Liam", "Maria", "Nikhil", "Olivia", "Pedro", "Quinn", "Rosa", "Samuel", "Tara",
    "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Amara", "Ben", "Chloe", "Diego", "Emma",
    "Felix", "Hana", "Ivan", "Julia", "Kenji", "Lucia", "Mateo", "Nora", "Oscar", "Priya",
    "Rafael", "Sofia", "Tomas", "Uma", "Victor", "Wendy", "Yara", "Aisha", "Daniel", "Leila",
    "Marcus", "Noah", "Ana", "Chen", "Freya", "Goncalo", "Ingrid", "Jamal", "Kofi", "Mei", "Omar",
    "Paula", "Ruth",
];

/// Family names.
pub const LAST_NAMES: &[&str] = &[
    "Silva",
    "Smith",
    "Muller",
    "Santos",
    "Garcia",
    "Kim",
    "Nguyen",
    "Patel",
    "Okafor",
    "Rossi",
    "Tanaka",
    "Costa",
    "Schmidt",
    "Johnson",
    "Ferreira",
    "Sharma",
    "Lopez",
    "Novak",
    "Haddad",
    "Eriksson",
    "Brown",
    "Wong",
    "Mendes",
    "Kowalski",
    "Dubois",
    "Ibrahim",
    "Park",
    "Oliveira",
    "Fischer",
    "Rao",
    "Martin",
    "Andersen",
    "Yilmaz",
    "Murphy",
    "Chen",
    "Alvarez",
    "Becker",
    "Pereira",
    "Singh",
    "Sato",
    "Lee",
    "Moreau",
    "Khan",
    "Jensen",
    "Taylor",
    "Ramos",
    "Weber",
    "Ito",
    "Cohen",
    "Bianchi",
    "Reyes",
    "Nakamura",
    "Walker",
    "Carvalho",
    "Ahmed",
    "Hughes",
    "Lindqvist",
    "Owusu",
    "Petrov",
    "Sousa",
    "Zhang",
    "Hansen",
    "Vargas",
    "Mwangi",
];

/// Operating systems and browser user agents of company laptops.
pub const LAPTOPS: &[(&str, &str)] = &[
    (
        "macOS 15.2",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36",
    ),
    (
        "macOS 15.2",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
    ),
    (
        "macOS 14.7",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15",
    ),
    (
        "Windows 11",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36",
    ),
    (
        "Windows 11",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36 Edg/143.0.0.0",
    ),
    (
        "Ubuntu 24.04",
        "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0",
    ),
];

/// Browsers attackers replay stolen sessions from.
pub const ATTACKER_BROWSERS: &[(&str, &str)] = &[
    (
        "Windows 10",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ),
    (
        "Linux",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    ),
    (
        "Windows 10",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
    ),
    (
        "Android 14",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Mobile Safari/537.36",
    ),
];

/// Ordinary browser extensions: name and permissions.
pub const EXTENSIONS: &[(&str, &[&str])] = &[
    (
        "1Password – Password Manager",
        &["storage", "activeTab", "contextMenus", "nativeMessaging"],
    ),
    (
        "Grammarly: AI Writing Assistant",
        &["storage", "tabs", "<all_urls>"],
    ),
    (
        "Loom – Screen Recorder",
        &["storage", "tabs", "activeTab", "desktopCapture"],
    ),
    ("JSON Formatter", &["storage"]),
    (
        "React Developer Tools",
        &["storage", "scripting", "<all_urls>"],
    ),
    ("Google Docs Offline", &["storage", "unlimitedStorage"]),
];

/// Extensions that harvest the clipboard: name and permissions.
pub const BAD_EXTENSIONS: &[(&str, &[&str])] = &[
    (
        "PDF Toolbox Pro",
        &["clipboardRead", "<all_urls>", "storage", "scripting"],
    ),
    (
        "Quick Tab Manager",
        &["clipboardRead", "clipboardWrite", "<all_urls>", "tabs"],
    ),
    (
        "AI Writing Helper Plus",
        &["clipboardRead", "<all_urls>", "webRequest"],
    ),
];

/// A third-party OAuth client.
#[derive(Debug)]
pub struct OauthClient {
    /// Client id.
    pub id: &'static str,
    /// Client name.
    pub name: &'static str,
    /// Scopes it asks for.
    pub scopes: &'static [&'static str],
}

/// Everyday OAuth clients people consent to, with narrow scopes.
pub const OAUTH_CLIENTS: &[OauthClient] = &[
    OauthClient {
        id: "463285937424-zm9kq2.apps.googleusercontent.com",
        name: "Zoom for Google Workspace",
        scopes: &[
            "openid",
            "email",
            "https://www.googleapis.com/auth/calendar.events",
        ],
    },
    OauthClient {
        id: "771104839211-cal7xp.apps.googleusercontent.com",
        name: "Calendly",
        scopes: &[
            "openid",
            "profile",
            "email",
            "https://www.googleapis.com/auth/calendar.readonly",
        ],
    },
    OauthClient {
        id: "3f1c9a52-7d0e-4b8e-9c41-5a2f6e8d0b13",
        name: "Miro",
        scopes: &["openid", "profile", "User.Read"],
    },
    OauthClient {
        id: "Iv1.8a61f9b3ac510aa0",
        name: "Codecov",
        scopes: &["read:user", "repo:status"],
    },
];

/// Consent-phishing OAuth clients that ask for everything.
pub const ROGUE_OAUTH_CLIENTS: &[OauthClient] = &[
    OauthClient {
        id: "958120034417-pdfcv9.apps.googleusercontent.com",
        name: "PDF Converter Online",
        scopes: &[
            "https://www.googleapis.com/auth/drive",
            "https://mail.google.com/",
            "offline_access",
        ],
    },
    OauthClient {
        id: "a7d2e0c4-1b9f-4e55-8f3a-c0ffee5e7a11",
        name: "DocuReview Secure Share",
        scopes: &[
            "offline_access",
            "Mail.ReadWrite",
            "Files.Read.All",
            "Sites.Read.All",
        ],
    },
];

/// How a non-human workload is scheduled.
#[derive(Debug, Clone, Copy)]
pub enum Schedule {
    /// Roughly every `minutes`; only in the owner's business hours when `business_hours`.
    Every {
        /// Mean interval.
        minutes: i64,
        /// Only during the owner's business hours.
        business_hours: bool,
    },
    /// Once a day at this UTC hour.
    Daily {
        /// Hour of day, UTC.
        hour: i64,
    },
}

/// One API operation a workload performs.
#[derive(Debug)]
pub struct Op {
    /// App id.
    pub app: &'static str,
    /// Sensor event type.
    pub kind: &'static str,
    /// API operation.
    pub operation: &'static str,
    /// API service.
    pub service: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Endpoint URL; `{id}` is replaced by a resource id.
    pub url: &'static str,
    /// Resource type.
    pub resource: &'static str,
    /// Relative frequency.
    pub weight: u32,
    /// Records or files per call, when it moves data (`0..0` for none).
    pub count: (i64, i64),
}

/// A non-human workload: a service account or an AI agent.
#[derive(Debug)]
pub struct BotSpec {
    /// Identity id stem.
    pub name: &'static str,
    /// Display name.
    pub display: &'static str,
    /// An AI agent (else a service account).
    pub agent: bool,
    /// Approved apps (ids).
    pub apps: &'static [&'static str],
    /// Approved actions.
    pub actions: &'static [&'static str],
    /// Approved session lifetime, seconds.
    pub max_lifetime_s: u64,
    /// When it runs.
    pub schedule: Schedule,
    /// Events per run.
    pub events: (i64, i64),
    /// Seconds between events.
    pub gap_s: (i64, i64),
    /// What it does.
    pub ops: &'static [Op],
    /// User agent of its HTTP client.
    pub user_agent: &'static str,
}

macro_rules! op {
    ($app:expr, $kind:expr, $op:expr, $svc:expr, $m:expr, $url:expr, $res:expr, $w:expr) => {
        op!($app, $kind, $op, $svc, $m, $url, $res, $w, (0, 0))
    };
    ($app:expr, $kind:expr, $op:expr, $svc:expr, $m:expr, $url:expr, $res:expr, $w:expr, $count:expr) => {
        Op {
            app: $app,
            kind: $kind,
            operation: $op,
            service: $svc,
            method: $m,
            url: $url,
            resource: $res,
            weight: $w,
            count: $count,
        }
    };
}

/// Service accounts, cycled through as the organisation grows.
pub const SERVICE_ACCOUNTS: &[BotSpec] = &[
    BotSpec {
        name: "svc-ci-builder",
        display: "CI build runner",
        agent: false,
        apps: &["github", "aws"],
        actions: &["token_use", "api_call"],
        max_lifetime_s: 3600,
        schedule: Schedule::Every {
            minutes: 12,
            business_hours: false,
        },
        events: (3, 10),
        gap_s: (2, 40),
        user_agent: "example-ci-runner/3.2.1",
        ops: &[
            op!(
                "github",
                "api_call",
                "repos.getContent",
                "contents",
                "GET",
                "https://api.github.com/repos/example-org/{id}/contents",
                "repository",
                5
            ),
            op!(
                "github",
                "api_call",
                "git.getRef",
                "git",
                "GET",
                "https://api.github.com/repos/example-org/{id}/git/ref/heads/main",
                "repository",
                3
            ),
            op!(
                "github",
                "api_call",
                "checks.create",
                "checks",
                "POST",
                "https://api.github.com/repos/example-org/{id}/check-runs",
                "repository",
                3
            ),
            op!(
                "aws",
                "api_call",
                "PutImage",
                "ecr",
                "POST",
                "https://api.ecr.us-east-1.amazonaws.com/",
                "container_repository",
                2
            ),
        ],
    },
    BotSpec {
        name: "svc-backup",
        display: "Nightly document backup",
        agent: false,
        apps: &["google-drive", "sharepoint"],
        actions: &["token_use", "api_call", "download", "export"],
        max_lifetime_s: 7200,
        schedule: Schedule::Daily { hour: 2 },
        events: (40, 120),
        gap_s: (3, 30),
        user_agent: "example-backup/1.8 (+https://example.com/it)",
        ops: &[
            op!(
                "google-drive",
                "download",
                "files.get",
                "drive",
                "GET",
                "https://www.googleapis.com/drive/v3/files/{id}",
                "document",
                6,
                (5, 80)
            ),
            op!(
                "google-drive",
                "api_call",
                "files.list",
                "drive",
                "GET",
                "https://www.googleapis.com/drive/v3/files",
                "folder",
                2
            ),
            op!(
                "sharepoint",
                "download",
                "driveItem.content",
                "graph",
                "GET",
                "https://graph.microsoft.com/v1.0/sites/{id}/drive/items",
                "document",
                4,
                (5, 80)
            ),
            op!(
                "sharepoint",
                "export",
                "site.export",
                "graph",
                "POST",
                "https://graph.microsoft.com/v1.0/sites/{id}/export",
                "site",
                1,
                (50, 400)
            ),
        ],
    },
    BotSpec {
        name: "svc-crm-sync",
        display: "CRM to warehouse sync",
        agent: false,
        apps: &["salesforce"],
        actions: &["token_use", "api_call", "export"],
        max_lifetime_s: 1800,
        schedule: Schedule::Every {
            minutes: 30,
            business_hours: false,
        },
        events: (2, 8),
        gap_s: (3, 60),
        user_agent: "example-etl/2.4.0",
        ops: &[
            op!(
                "salesforce",
                "api_call",
                "query",
                "data",
                "GET",
                "https://example.my.salesforce.com/services/data/v62.0/query",
                "soql_query",
                6,
                (10, 500)
            ),
            op!(
                "salesforce",
                "export",
                "bulk.query",
                "bulk",
                "POST",
                "https://example.my.salesforce.com/services/data/v62.0/jobs/query",
                "report",
                1,
                (100, 2000)
            ),
        ],
    },
    BotSpec {
        name: "svc-hr-import",
        display: "HRIS directory import",
        agent: false,
        apps: &["workday"],
        actions: &["token_use", "api_call"],
        max_lifetime_s: 3600,
        schedule: Schedule::Daily { hour: 6 },
        events: (5, 20),
        gap_s: (5, 60),
        user_agent: "example-hris-sync/0.9",
        ops: &[
            op!(
                "workday",
                "api_call",
                "Get_Workers",
                "human_resources",
                "POST",
                "https://wd2-impl-services1.workday.com/ccx/service/example/Human_Resources/v43.0",
                "worker",
                5,
                (50, 500)
            ),
            op!(
                "workday",
                "api_call",
                "Get_Organizations",
                "human_resources",
                "POST",
                "https://wd2-impl-services1.workday.com/ccx/service/example/Human_Resources/v43.0",
                "organization",
                1
            ),
        ],
    },
    BotSpec {
        name: "svc-monitoring",
        display: "Monitoring and alerting",
        agent: false,
        apps: &["aws", "slack"],
        actions: &["token_use", "api_call"],
        max_lifetime_s: 900,
        schedule: Schedule::Every {
            minutes: 5,
            business_hours: false,
        },
        events: (1, 4),
        gap_s: (1, 20),
        user_agent: "example-monitor/5.0",
        ops: &[
            op!(
                "aws",
                "api_call",
                "GetMetricData",
                "cloudwatch",
                "POST",
                "https://monitoring.us-east-1.amazonaws.com/",
                "metric",
                12
            ),
            op!(
                "aws",
                "api_call",
                "GetSecretValue",
                "secretsmanager",
                "POST",
                "https://secretsmanager.us-east-1.amazonaws.com/",
                "secret",
                1
            ),
            op!(
                "slack",
                "api_call",
                "chat.postMessage",
                "chat",
                "POST",
                "https://slack.com/api/chat.postMessage",
                "channel",
                1
            ),
        ],
    },
];

/// AI agents, cycled through as the organisation grows.
pub const AGENTS: &[BotSpec] = &[
    BotSpec {
        name: "agent-support-triage",
        display: "Support triage agent",
        agent: true,
        apps: &["atlassian", "slack"],
        actions: &["token_use", "api_call", "search", "create", "update"],
        max_lifetime_s: 1800,
        schedule: Schedule::Every {
            minutes: 25,
            business_hours: true,
        },
        events: (3, 10),
        gap_s: (4, 60),
        user_agent: "example-agents/1.4 (support-triage)",
        ops: &[
            op!(
                "atlassian",
                "search",
                "issue.search",
                "jira",
                "GET",
                "https://example.atlassian.net/rest/api/3/search",
                "issue",
                4,
                (1, 40)
            ),
            op!(
                "atlassian",
                "update",
                "issue.edit",
                "jira",
                "PUT",
                "https://example.atlassian.net/rest/api/3/issue/{id}",
                "issue",
                3
            ),
            op!(
                "atlassian",
                "create",
                "comment.add",
                "jira",
                "POST",
                "https://example.atlassian.net/rest/api/3/issue/{id}/comment",
                "comment",
                2
            ),
            op!(
                "slack",
                "api_call",
                "chat.postMessage",
                "chat",
                "POST",
                "https://slack.com/api/chat.postMessage",
                "channel",
                2
            ),
        ],
    },
    BotSpec {
        name: "agent-code-review",
        display: "Code review agent",
        agent: true,
        apps: &["github"],
        actions: &["token_use", "api_call"],
        max_lifetime_s: 1200,
        schedule: Schedule::Every {
            minutes: 40,
            business_hours: true,
        },
        events: (4, 12),
        gap_s: (2, 45),
        user_agent: "example-agents/1.4 (code-review)",
        ops: &[
            op!(
                "github",
                "api_call",
                "pulls.get",
                "pulls",
                "GET",
                "https://api.github.com/repos/example-org/{id}/pulls",
                "pull_request",
                3
            ),
            op!(
                "github",
                "api_call",
                "pulls.listFiles",
                "pulls",
                "GET",
                "https://api.github.com/repos/example-org/{id}/pulls/files",
                "pull_request",
                3
            ),
            op!(
                "github",
                "api_call",
                "pulls.createReview",
                "pulls",
                "POST",
                "https://api.github.com/repos/example-org/{id}/pulls/reviews",
                "pull_request",
                1
            ),
        ],
    },
    BotSpec {
        name: "agent-sales-notes",
        display: "Sales meeting notes agent",
        agent: true,
        apps: &["salesforce", "google-drive", "notetaker-ai"],
        actions: &["token_use", "api_call", "search", "update"],
        max_lifetime_s: 1800,
        schedule: Schedule::Every {
            minutes: 60,
            business_hours: true,
        },
        events: (3, 9),
        gap_s: (5, 90),
        user_agent: "example-agents/1.4 (sales-notes)",
        ops: &[
            op!(
                "notetaker-ai",
                "api_call",
                "notes.get",
                "notes",
                "GET",
                "https://api.notetaker.ai/v1/notes/{id}",
                "note",
                3
            ),
            op!(
                "salesforce",
                "update",
                "sobjects.Opportunity.update",
                "data",
                "PATCH",
                "https://example.my.salesforce.com/services/data/v62.0/sobjects/Opportunity/{id}",
                "opportunity",
                2
            ),
            op!(
                "google-drive",
                "search",
                "files.list",
                "drive",
                "GET",
                "https://www.googleapis.com/drive/v3/files",
                "document",
                2,
                (1, 20)
            ),
        ],
    },
    BotSpec {
        name: "agent-research",
        display: "Research assistant agent",
        agent: true,
        apps: &["google-drive", "notion", "sharepoint"],
        actions: &["token_use", "api_call", "search", "download"],
        max_lifetime_s: 3600,
        schedule: Schedule::Every {
            minutes: 45,
            business_hours: true,
        },
        events: (3, 12),
        gap_s: (3, 120),
        user_agent: "example-agents/1.4 (research)",
        ops: &[
            op!(
                "google-drive",
                "search",
                "files.list",
                "drive",
                "GET",
                "https://www.googleapis.com/drive/v3/files",
                "document",
                3,
                (1, 30)
            ),
            op!(
                "google-drive",
                "download",
                "files.get",
                "drive",
                "GET",
                "https://www.googleapis.com/drive/v3/files/{id}",
                "document",
                2,
                (1, 3)
            ),
            op!(
                "notion",
                "api_call",
                "pages.retrieve",
                "pages",
                "GET",
                "https://api.notion.com/v1/pages/{id}",
                "page",
                2
            ),
            op!(
                "sharepoint",
                "search",
                "driveItem.search",
                "graph",
                "GET",
                "https://graph.microsoft.com/v1.0/sites/{id}/drive/root/search",
                "document",
                1,
                (1, 25)
            ),
        ],
    },
];
