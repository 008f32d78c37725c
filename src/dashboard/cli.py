"""Command line: ``python -m dashboard status|ingest|rollback|prepare|build-sample|assets``.

The same ingest and store code the app uses, for scripted (nightly) loads. Errors are printed as the
DashboardError's title, message and hint (or JSON with --json) with exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from dashboard import config, ingest, sample, schema
from dashboard.errors import DashboardError, IngestError
from dashboard.store import Provenance, Store

log = logging.getLogger("dashboard")


def _store(cfg: config.Config) -> Store:
    return Store(cfg.store_path, lock_timeout=cfg.lock_timeout, idle_close=0)


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(data, list):
        for row in data:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    else:
        print(data)


def cmd_status(args, cfg) -> int:
    store = _store(cfg)
    out = {"store": str(cfg.store_path), "datasets": store.status()}
    if args.json:
        _print(out, True)
    else:
        print(f"store: {cfg.store_path}")
        for row in out["datasets"]:
            print(f"{row['dataset']:<11} v{row['version'] or '-':<3} {row['rows']:>9,} rows  "
                  f"{(row['min_date'] or '')[:10]} .. {(row['max_date'] or '')[:10]}  "
                  f"loaded {row['loaded_at'] or '-'}  {row['source'] or ''}")
    return 0


def _parse_map(pairs: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    mapping = {}
    for pair in pairs:
        if "=" not in pair:
            raise IngestError("Bad --map value", f"{pair!r} is not FIELD=COLUMN.",
                              hint="Write it like --map occurred_at='Date Occurred'.")
        target, source = pair.split("=", 1)
        mapping[target.strip()] = source.strip()
    return mapping


def cmd_ingest(args, cfg) -> int:
    store = _store(cfg)
    known_beats = None
    if args.kind == "outreach" and store.has("areas"):
        known_beats = set(store.areas("beat")["area_id"])
    mapping = _parse_map(args.map)
    if args.profile:
        mapping = {**json.loads(Path(args.profile).read_text()), **(mapping or {})}
    prepared = ingest.prepare_file(
        Path(args.path), args.kind, level=args.level, year=args.year, mapping=mapping,
        date_format=args.date_format, known_beats=known_beats,
    )
    report = prepared.report.to_dict()
    if args.dry_run:
        report["committed"] = False
    else:
        r = prepared.report
        version = store.commit(args.kind, prepared.frame, Provenance(
            source=r.source_name, file_hash=r.file_hash, rows_in=r.rows_in, rows_kept=r.rows_kept,
            rows_rejected=r.rows_rejected, mapping=r.mapping, author=args.author,
        ), mode=args.mode)
        report.update(committed=True, version=version)
    if args.rejected_csv:
        prepared.report.rejected.to_csv(args.rejected_csv, index=False)
    if args.json:
        _print(report, True)
    else:
        print(f"{args.kind}: {report['rows_in']:,} rows read, {report['rows_kept']:,} kept, "
              f"{report['rows_rejected']:,} rejected"
              + (f"; committed as version {report['version']}" if report.get("committed") else " (dry run)"))
        for reason, n in report["rejected_by_reason"].items():
            print(f"  rejected {n:,}: {reason}")
        for warning in report["warnings"]:
            print(f"  warning: {warning}")
    return 0


def cmd_rollback(args, cfg) -> int:
    _store(cfg).rollback(args.dataset, args.version)
    print(f"{args.dataset}: version {args.version} is now active")
    return 0


def cmd_prepare(args, cfg) -> int:
    store = _store(cfg)
    seeded = sample.seed_store(store, cfg.sample_dir)
    print(f"store ready at {cfg.store_path}" + (f"; seeded {', '.join(seeded)} from the sample" if seeded else ""))
    return 0


def cmd_build_sample(args, cfg) -> int:
    report = sample.build(Path(args.source), Path(args.out))
    _print({k: v for k, v in report.items() if k != "datasets"}, True)
    return 0


def cmd_assets(args, cfg) -> int:
    from dashboard import offline

    files = offline.install(config.REPO_ROOT / "static" / "vendor", quiet=args.quiet)
    if not args.quiet:
        print(f"{len(files)} offline map assets in static/vendor")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("status", help="each dataset: active version, rows, date range, loaded-at")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("ingest", help="validate a file and commit it as a new version")
    p.add_argument("path")
    p.add_argument("--kind", required=True, choices=ingest.KINDS)
    p.add_argument("--level", choices=list(schema.LEVELS), help="boundary level (areas, population)")
    p.add_argument("--year", type=int, help="population year when the file has no year column")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="map a canonical field to a column of the file (repeatable)")
    p.add_argument("--profile", help="JSON file with a saved mapping {field: column}")
    p.add_argument("--date-format", help="strftime format of the date column, e.g. '%%m/%%d/%%Y %%I:%%M:%%S %%p'")
    p.add_argument("--mode", choices=["append", "replace"], default="append",
                   help="append (newer record wins on the same id) or replace the dataset")
    p.add_argument("--author", default="cli")
    p.add_argument("--dry-run", action="store_true", help="validate and report; store nothing")
    p.add_argument("--rejected-csv", help="write every rejected row with its reason to this CSV")
    p.add_argument("--json", action="store_true", help="print the validation report as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("rollback", help="make an earlier version of a dataset active again")
    p.add_argument("dataset", choices=schema.DATASETS)
    p.add_argument("version", type=int)
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("prepare", help="create the store and seed it from data/sample if empty")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("build-sample", help="rebuild data/sample from the real Chicago files")
    p.add_argument("--source", default=str(config.REPO_ROOT.parent / "shared" / "data" / "real" / "chicago"))
    p.add_argument("--out", default=str(config.REPO_ROOT / "data" / "sample"))
    p.set_defaults(func=cmd_build_sample)

    p = sub.add_parser("assets", help="install the offline map assets (Leaflet etc.) from the npm registry")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_assets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config.load()
        logging.basicConfig(level=cfg.log_level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return args.func(args, cfg)
    except DashboardError as exc:
        if getattr(args, "json", False):
            print(json.dumps(exc.to_dict(), indent=2, default=str))
        else:
            print(f"error: {exc.title}\n  {exc.message}", file=sys.stderr)
            if exc.hint:
                print(f"  fix: {exc.hint}", file=sys.stderr)
        return 2
