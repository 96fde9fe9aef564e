#!/usr/bin/env python3
"""Seed each fuzz target's corpus with that source's sample records.

Reads the public vendor samples beside the project (`../shared/data/vendor`, relative to
the project root) and the hand-written seeds in `fuzz/seeds/<target>/`, and writes into
`fuzz/corpus/<target>/` (gitignored; override with the first argument): every record on
its own, a few records framed together as NDJSON and as a JSON array, and every sample
file whole when it is small. Files are named by the SHA-1 of their bytes, as libFuzzer
names its own, so re-seeding adds nothing twice. Nothing here is committed.
"""

import hashlib
import json
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
VENDOR = ROOT / ".." / "shared" / "data" / "vendor"
SIGMA = ROOT / ".." / "shared" / "data" / "sigma"
PACK = ROOT / "crates" / "detect" / "pack"

# Fuzz target (= source name) -> sample folders under `../shared/data/vendor`.
VENDOR_DIRS = {
    "sensor": [],
    "ocsf": [],
    "okta": ["okta"],
    "cloudtrail": ["aws-cloudtrail"],
    "entra-signin": ["entra-signin"],
    "entra-audit": ["entra-audit"],
    "m365": ["m365-audit"],
    "github": ["github-audit"],
    "gws": ["google-workspace"],
}

# Whole files larger than this are seeded only record by record: libFuzzer sizes its
# inputs after the largest seed, and big inputs slow every run.
MAX_WHOLE = 16 * 1024


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def records(text):
    """The records of one sample file, as a source would be handed them."""
    stripped = text.strip()
    try:
        doc = json.loads(stripped)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("events"), list):
        # The M365 samples' test envelope: `o365audit` objects and `event.original` strings.
        out = []
        for item in doc["events"]:
            if isinstance(item, dict):
                if isinstance(item.get("o365audit"), dict):
                    out.append(compact(item["o365audit"]))
                original = (item.get("event") or {}).get("original")
                if isinstance(original, str):
                    out.append(original.encode())
        return out
    if isinstance(doc, list):
        return [compact(item) for item in doc]
    if isinstance(doc, dict):
        return [compact(doc)]
    return [line.encode() for line in text.splitlines() if line.strip()]


def sample_files(folder):
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix in (".log", ".json", ".ndjson")
        and not p.name.endswith("-expected.json")
    )


def main():
    corpus_root = Path(sys.argv[1]) if len(sys.argv) > 1 else FUZZ / "corpus"
    total = new = 0
    if not VENDOR.is_dir():
        print(f"seed: no vendor samples at {VENDOR}; using fuzz/seeds only", file=sys.stderr)
    for target, dirs in VENDOR_DIRS.items():
        files = sample_files(FUZZ / "seeds" / target)
        for d in dirs:
            files += sample_files(VENDOR / d)
        seeds = set()
        for f in files:
            raw = f.read_bytes()
            if len(raw) <= MAX_WHOLE:
                seeds.add(raw)
            recs = records(raw.decode("utf-8", errors="replace"))
            seeds.update(recs)
            if len(recs) > 1:
                seeds.add(b"\n".join(recs[:3]) + b"\n")
                seeds.add(b"[" + b",\n".join(recs[:3]) + b"]")
        out = corpus_root / target
        out.mkdir(parents=True, exist_ok=True)
        for s in seeds:
            path = out / hashlib.sha1(s).hexdigest()
            if not path.exists():
                path.write_bytes(s)
                new += 1
        total += len(seeds)
    # Rule files: the shipped pack, the spec's examples and SigmaHQ's cloud rules, whole.
    rules = sorted(PACK.glob("*.yml"))
    for d in (SIGMA / "spec" / "examples", SIGMA / "rules-cloud", SIGMA / "rules-cloud-extra"):
        if d.is_dir():
            rules += sorted(d.rglob("*.yml"))
    out = corpus_root / "sigma"
    out.mkdir(parents=True, exist_ok=True)
    for f in rules:
        raw = f.read_bytes()
        path = out / hashlib.sha1(raw).hexdigest()
        if not path.exists():
            path.write_bytes(raw)
            new += 1
        total += 1
    # Evidence formats: a segment and a bundle written by the log, byte for byte.
    out = corpus_root / "evidence"
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted((FUZZ / "seeds" / "evidence").glob("*")):
        raw = f.read_bytes()
        path = out / hashlib.sha1(raw).hexdigest()
        if not path.exists():
            path.write_bytes(raw)
            new += 1
        total += 1
    print(
        f"seed: {total} seeds for {len(VENDOR_DIRS) + 2} targets ({new} new) in {corpus_root}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
