//! What people look at: pages, resources, files and API operations, per kind of app.
//!
//! Realistic-looking URLs and resource names make the stream useful for demos and for
//! detections that look at resource types (a `secret` read, a `report` export). URLs never
//! carry query strings: the sensor strips them, and so does the simulator.

use crate::catalog::AppKind;
use crate::org::App;
use crate::rng::Rng;
use crate::wire::{ApiW, FileW, ResourceW};

/// Source repositories.
pub const REPOS: &[&str] = &[
    "api-gateway",
    "billing-service",
    "web-app",
    "infra",
    "mobile-app",
    "data-pipeline",
    "auth-service",
    "docs",
];

const CODE_PATHS: &[&str] = &[
    "src/main.rs",
    "src/lib.rs",
    "README.md",
    "Cargo.toml",
    "src/handlers/mod.rs",
    "deploy/values.yaml",
    "package.json",
    "src/app.tsx",
];

const DOC_NAMES: &[&str] = &[
    "Q1 Planning",
    "Board Deck FY26",
    "Customer Interview Notes",
    "Onboarding Guide",
    "Architecture Overview",
    "Incident Postmortem 2025-12",
    "Pricing Proposal",
    "Hiring Plan 2026",
    "OKRs Q1 2026",
    "Vendor Contract Review",
    "Sales Playbook",
    "Security Policy",
];

const ACCOUNTS: &[&str] = &[
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Logistics",
    "Wayne Retail",
    "Hooli",
    "Vandelay Imports",
];

const CHANNELS: &[&str] = &[
    "general",
    "eng",
    "incidents",
    "sales-wins",
    "support-escalations",
    "random",
    "product",
    "people-team",
];

const PROJECTS: &[&str] = &["ENG", "SUP", "OPS", "SEC", "WEB", "DATA"];

const SPACES: &[&str] = &["ENG", "HR", "SALES", "IT", "PRODUCT"];

const SITES: &[&str] = &["Finance", "Legal", "HR", "Sales", "Leadership"];

const FILES: &[(&str, &str)] = &[
    (
        "q1-pipeline.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("board-deck-fy26.pdf", "application/pdf"),
    ("architecture.pdf", "application/pdf"),
    ("customer-list.csv", "text/csv"),
    ("offer-letter.pdf", "application/pdf"),
    ("expense-report.pdf", "application/pdf"),
    ("design-mockups.zip", "application/zip"),
    (
        "meeting-notes.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "roadmap.pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("invoice-2026-001.pdf", "application/pdf"),
    ("screenshot.png", "image/png"),
];

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A page and the resource it shows.
#[derive(Debug, Clone)]
pub struct Page {
    /// Full URL, no query string.
    pub url: String,
    /// What it shows.
    pub resource: ResourceW,
}

fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
    rng.pick(xs).copied().unwrap_or("")
}

fn res(kind: &str, id: String, name: String) -> ResourceW {
    ResourceW {
        kind: kind.to_string(),
        id: Some(id),
        name: Some(name),
        url: None,
    }
}

/// A page of `app` someone might be looking at.
pub fn page(rng: &mut Rng, app: &App) -> Page {
    let host = app.spec.host;
    let base = format!("https://{host}");
    let (path, kind, id, name) = match app.spec.kind {
        AppKind::Code => {
            let repo = pick(rng, REPOS);
            let n = rng.range(100, 4000);
            match rng.below(5) {
                0 => (
                    format!("/example-org/{repo}/pull/{n}"),
                    "pull_request",
                    format!("{repo}#{n}"),
                    format!("{repo} pull request #{n}"),
                ),
                1 => {
                    let file = pick(rng, CODE_PATHS);
                    (
                        format!("/example-org/{repo}/blob/main/{file}"),
                        "file",
                        format!("{repo}:{file}"),
                        file.to_string(),
                    )
                }
                2 => (
                    format!("/example-org/{repo}/issues/{n}"),
                    "issue",
                    format!("{repo}#{n}"),
                    format!("{repo} issue #{n}"),
                ),
                3 => (
                    format!("/example-org/{repo}/actions/runs/{}", n * 1000 + 17),
                    "workflow_run",
                    format!("{}", n * 1000 + 17),
                    format!("{repo} CI run"),
                ),
                _ => (
                    format!("/example-org/{repo}"),
                    "repository",
                    format!("example-org/{repo}"),
                    repo.to_string(),
                ),
            }
        }
        AppKind::Crm => {
            let (object, prefix, kind) = match rng.below(4) {
                0 => ("Opportunity", "006", "opportunity"),
                1 => ("Account", "001", "account"),
                2 => ("Contact", "003", "contact"),
                _ => ("Report", "00O", "report"),
            };
            let id = format!("{prefix}{}", rng.chars(15, ALNUM));
            let account = pick(rng, ACCOUNTS);
            let name = match kind {
                "opportunity" => format!("{account} — Renewal FY26"),
                "report" => format!("{} pipeline by stage", pick(rng, &["EMEA", "NA", "APAC"])),
                _ => account.to_string(),
            };
            (format!("/lightning/r/{object}/{id}/view"), kind, id, name)
        }
        AppKind::Hr => {
            let n = rng.range(10_000, 99_999);
            match rng.below(4) {
                0 => (
                    format!("/example/d/worker/{n}"),
                    "worker",
                    format!("W{n}"),
                    "Worker profile".to_string(),
                ),
                1 => (
                    format!("/example/d/expense/{n}"),
                    "expense_report",
                    format!("EXP-{n}"),
                    "Expense report".to_string(),
                ),
                2 => (
                    format!("/example/d/timeoff/{n}"),
                    "time_off_request",
                    format!("TO-{n}"),
                    "Time off request".to_string(),
                ),
                _ => (
                    format!("/example/d/payslip/{n}"),
                    "payslip",
                    format!("PAY-{n}"),
                    "Payslip".to_string(),
                ),
            }
        }
        AppKind::Chat => {
            let channel = pick(rng, CHANNELS);
            let id = format!("C{}", rng.chars(10, UPPER));
            (
                format!("/archives/{id}"),
                "channel",
                id,
                format!("#{channel}"),
            )
        }
        AppKind::Tracker => {
            if rng.chance(0.7) {
                let key = format!("{}-{}", pick(rng, PROJECTS), rng.range(10, 9000));
                (
                    format!("/browse/{key}"),
                    "issue",
                    key.clone(),
                    format!("{key} {}", pick(rng, DOC_NAMES)),
                )
            } else {
                let space = pick(rng, SPACES);
                let n = rng.range(100_000, 9_999_999);
                (
                    format!("/wiki/spaces/{space}/pages/{n}"),
                    "page",
                    n.to_string(),
                    pick(rng, DOC_NAMES).to_string(),
                )
            }
        }
        AppKind::Cloud => match rng.below(5) {
            0 => {
                let id = format!("i-0{}", rng.hex(16));
                ("/ec2/home".to_string(), "instance", id.clone(), id)
            }
            1 => {
                let bucket = format!(
                    "example-{}-{}",
                    pick(rng, &["logs", "assets", "backups", "data-lake"]),
                    pick(rng, &["prod", "staging"])
                );
                (
                    format!("/s3/buckets/{bucket}"),
                    "bucket",
                    format!("arn:aws:s3:::{bucket}"),
                    bucket,
                )
            }
            2 => {
                let role = pick(rng, &["DeveloperAccess", "ReadOnly", "DataScientist"]);
                (
                    "/iam/home".to_string(),
                    "role",
                    format!("arn:aws:iam::123456789012:role/{role}"),
                    role.to_string(),
                )
            }
            3 => {
                let f = pick(rng, &["resize-images", "webhook-relay", "nightly-report"]);
                (
                    format!("/lambda/home/functions/{f}"),
                    "function",
                    format!("arn:aws:lambda:us-east-1:123456789012:function:{f}"),
                    f.to_string(),
                )
            }
            _ => (
                "/cloudwatch/home".to_string(),
                "dashboard",
                "prod-overview".to_string(),
                "prod-overview".to_string(),
            ),
        },
        AppKind::Docs => {
            let id = rng.chars(33, ALNUM);
            if rng.chance(0.8) {
                (
                    format!("/file/d/{id}/view"),
                    "document",
                    id,
                    pick(rng, DOC_NAMES).to_string(),
                )
            } else {
                (
                    format!("/drive/folders/{id}"),
                    "folder",
                    id,
                    pick(rng, SITES).to_string(),
                )
            }
        }
        AppKind::Sharepoint => {
            let site = pick(rng, SITES);
            let (file, _) = rng.pick(FILES).copied().unwrap_or(("file.pdf", ""));
            (
                format!("/sites/{site}/Documents/{file}"),
                "document",
                format!("01{}", rng.chars(32, UPPER)),
                file.to_string(),
            )
        }
        AppKind::Notes => {
            let title = pick(rng, DOC_NAMES);
            let hex = rng.hex(32);
            let slug = title.replace(' ', "-");
            (
                format!("/example/{slug}-{hex}"),
                "page",
                hex,
                title.to_string(),
            )
        }
        AppKind::FileSync => {
            if rng.chance(0.5) {
                let folder = pick(rng, &["Clients", "Contracts", "Marketing", "Personal"]);
                (
                    format!("/home/{folder}"),
                    "folder",
                    format!("id:{}", rng.chars(22, ALNUM)),
                    folder.to_string(),
                )
            } else {
                let (file, _) = rng.pick(FILES).copied().unwrap_or(("file.pdf", ""));
                let id = rng.chars(15, ALNUM);
                (format!("/scl/fi/{id}/{file}"), "file", id, file.to_string())
            }
        }
        AppKind::AiTool => {
            let id = rng.hex(12);
            (
                format!("/notes/{id}"),
                "note",
                id,
                format!("{} summary", pick(rng, DOC_NAMES)),
            )
        }
    };
    let url = format!("{base}{path}");
    Page {
        resource: res(kind, id, name),
        url,
    }
}

/// The search page of `app`.
pub fn search_url(app: &App) -> String {
    let path = match app.spec.kind {
        AppKind::Code => "/search",
        AppKind::Crm => "/lightning/search",
        AppKind::Hr => "/example/d/search.htmld",
        AppKind::Chat => "/search",
        AppKind::Tracker => "/issues/",
        AppKind::Cloud => "/console/home",
        AppKind::Docs => "/drive/search",
        AppKind::Sharepoint => "/_layouts/15/search.aspx",
        AppKind::Notes => "/example/search",
        AppKind::FileSync => "/search/personal",
        AppKind::AiTool => "/search",
    };
    format!("https://{}{path}", app.spec.host)
}

/// The sign-in page of `app`.
pub fn login_url(app: &App) -> String {
    format!("https://{}/login", app.spec.host)
}

/// A file someone moves.
pub fn file(rng: &mut Rng) -> FileW {
    let (name, mime) = rng
        .pick(FILES)
        .copied()
        .unwrap_or(("file.pdf", "application/pdf"));
    FileW {
        name: name.to_string(),
        size: u64::try_from(rng.range(8_000, 6_000_000)).unwrap_or(8_000),
        mime,
    }
}

/// A CSV export of something called `name`.
pub fn export_file(rng: &mut Rng, name: &str, rows: u64) -> FileW {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    FileW {
        name: format!("{}.csv", slug.trim_matches('-')),
        size: rows * u64::try_from(rng.range(120, 900)).unwrap_or(200),
        mime: "text/csv",
    }
}

/// Operation, service, HTTP method and resource type of a console API call.
type CloudOp = (&'static str, &'static str, &'static str, &'static str);

const CLOUD_OPS: &[(CloudOp, u32)] = &[
    (("DescribeInstances", "ec2", "POST", "instance"), 30),
    (("ListBuckets", "s3", "GET", "bucket"), 20),
    (("GetMetricData", "cloudwatch", "POST", "metric"), 20),
    (("ListRoles", "iam", "GET", "role"), 10),
    (("GetFunction", "lambda", "GET", "function"), 10),
    (("GetSecretValue", "secretsmanager", "POST", "secret"), 2),
];

/// An operation in the cloud console, and what it touched. Rarely a secret is read.
pub fn cloud_api(rng: &mut Rng) -> (ApiW, ResourceW) {
    let (operation, service, method, kind) = rng.weighted(CLOUD_OPS).copied().unwrap_or((
        "DescribeInstances",
        "ec2",
        "POST",
        "instance",
    ));
    let (id, name) = if kind == "secret" {
        let name = pick(rng, &["staging/app/sentry-dsn", "dev/feature-flags-key"]);
        (
            format!(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-{}",
                rng.chars(6, ALNUM)
            ),
            name.to_string(),
        )
    } else {
        let id = resource_id(rng, kind);
        (id.clone(), id)
    };
    let api = ApiW {
        operation: operation.to_string(),
        service: service.to_string(),
        method,
    };
    (
        api,
        ResourceW {
            kind: kind.to_string(),
            id: Some(id),
            name: Some(name),
            url: None,
        },
    )
}

/// A plausible id for a resource of `kind`.
pub fn resource_id(rng: &mut Rng, kind: &str) -> String {
    match kind {
        "repository" | "pull_request" => pick(rng, REPOS).to_string(),
        "document" | "folder" => rng.chars(33, ALNUM),
        "issue" => format!("{}-{}", pick(rng, PROJECTS), rng.range(10, 9000)),
        "comment" => format!("{}-{}", pick(rng, PROJECTS), rng.range(10, 9000)),
        "channel" => format!("C{}", rng.chars(10, UPPER)),
        "opportunity" => format!("006{}", rng.chars(15, ALNUM)),
        "site" => pick(rng, SITES).to_string(),
        "instance" => format!("i-0{}", rng.hex(16)),
        "bucket" => "example-assets-prod".to_string(),
        "role" => "arn:aws:iam::123456789012:role/ReadOnly".to_string(),
        "function" => "webhook-relay".to_string(),
        "metric" => "AWS/ApplicationELB".to_string(),
        "worker" | "organization" => format!("W{}", rng.range(10_000, 99_999)),
        _ => rng.hex(16),
    }
}
