"""Command line: ``python -m dashboard status|ingest|rollback|prepare|build-sample|assets|users``.

The same ingest and store code the app uses, for scripted (nightly) loads. Errors are printed as the
DashboardError's title, message and hint (or JSON with --json) with exit code 2; never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from pathlib import Path
from typing import Any

from dashboard import access, auth, config, geo, ingest, mapping, sample, schema
from dashboard.errors import DashboardError, IngestError
from dashboard.store import Store

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


def _plan(args, cfg, store: Store, upload: ingest.Upload, areas: dict) -> tuple[ingest.Plan, list[str]]:
    """The plan for this file: a saved profile (--profile NAME or PATH), else the page's suggestion
    (which uses a saved profile for the same header on its own); flags override either."""
    notes: list[str] = []
    profiles = cfg.data_dir / "profiles"
    if args.profile:
        plan = mapping.load_profile(args.profile, profiles)
        notes = mapping.diagnose(upload.frame, plan, areas)
    else:
        suggestion = mapping.suggest(upload.frame, is_geo=upload.is_geo, kind=args.kind, areas=areas,
                                     profiles_dir=profiles)
        plan, notes = suggestion.plan, suggestion.notes
        if suggestion.profile:
            notes = [f"used the saved profile '{suggestion.profile}'", *notes]
    changes: dict[str, Any] = {}
    if args.kind:
        changes["kind"] = args.kind
    overrides = _parse_map(args.map)
    if overrides:
        changes["columns"] = {**plan.columns, **overrides}
    for flag, key in (("date_format", "date_format"), ("level", "level"), ("year", "year"), ("crs", "crs"),
                      ("timezone", "timezone"), ("source_timezone", "source_timezone")):
        if getattr(args, flag) is not None:
            changes[key] = getattr(args, flag)
    if args.swap_latlon:
        changes["swap_latlon"] = True
    return ingest.Plan(**{**plan.to_dict(), **changes}), notes


def cmd_ingest(args, cfg) -> int:
    store = _store(cfg)
    path = Path(args.path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError("File could not be opened", f"{path}: {exc.strerror}.",
                          hint="Check the path and that you may read the file.") from exc
    upload = ingest.read_upload(data, path.name, max_mb=cfg.max_upload_mb)
    areas = {lv: geo.from_store(store.areas(lv)) for lv in store.levels()}
    plan, notes = _plan(args, cfg, store, upload, areas)
    known_beats = set(areas["beat"]["area_id"]) if "beat" in areas else None
    prepared = ingest.prepare_mapped(upload, plan, areas=areas, known_beats=known_beats)
    report = prepared.report.to_dict()
    report["notes"] = notes
    if args.dry_run:
        report["committed"] = False
    else:
        version = ingest.commit_prepared(store, prepared, mode=args.mode, author=args.author or _actor(),
                                         level=plan.level, role="admin", note="python -m dashboard ingest")
        report.update(committed=True, version=version)
        if args.save_profile:
            report["profile"] = str(mapping.save_profile(cfg.data_dir / "profiles",
                                                         ingest.Plan(**{**plan.to_dict(), "name": args.save_profile}),
                                                         args.author or _actor()))
    if args.rejected_csv:
        Path(args.rejected_csv).write_bytes(ingest.safe_csv_bytes(prepared.report.rejected))
    if args.json:
        _print(report, True)
    else:
        print(f"{plan.kind}: {report['rows_in']:,} rows read, {report['rows_kept']:,} kept, "
              f"{report['rows_rejected']:,} rejected"
              + (f"; committed as version {report['version']}" if report.get("committed") else " (dry run)"))
        for reason, n in report["rejected_by_reason"].items():
            print(f"  rejected {n:,}: {reason}")
        for warning in [*report["warnings"], *notes]:
            print(f"  warning: {warning}")
    return 0


def _actor() -> str:
    """Who a command acts as in the audit log: the operating-system account that ran it."""
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli:unknown"


def cmd_rollback(args, cfg) -> int:
    _store(cfg).rollback(args.dataset, args.version, actor=_actor(), role="admin")
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


def _read_password(args) -> str | None:
    """From stdin (--password-stdin, for scripts) or a prompt; never from the command line, where other
    users of the machine could read it in the process list."""
    if args.oidc:
        return None
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise auth.AccountError(message="The two passwords differ.", hint="Type the same password twice.")
    return first


def cmd_users(args, cfg) -> int:
    store, actor = _store(cfg), _actor()
    if args.action == "list":
        table = auth.users(store)
        _print(table.astype({"created_at": str, "updated_at": str}).to_dict(orient="records"), args.json)
        return 0
    if not args.username:
        raise auth.AccountError(message=f"users {args.action} needs a user name.",
                                hint=f"python -m dashboard users {args.action} NAME")
    if args.action == "add":
        auth.add_user(store, args.username, args.role or "public", _read_password(args), actor)
    elif args.action == "set-role":
        if not args.role:
            raise auth.AccountError(message="set-role needs --role.", hint="e.g. --role analyst")
        auth.set_role(store, args.username, args.role, actor)
    elif args.action == "set-password":
        password = _read_password(args)
        if password is None:
            raise auth.AccountError(message="--oidc users have no password.", hint="Leave out --oidc.")
        auth.set_password(store, args.username, password, actor)
    elif args.action == "unlock":
        auth.unlock(store, args.username, actor)
    elif args.action == "remove":
        auth.remove_user(store, args.username, actor)
    print(f"{args.action}: {auth.normalise_username(args.username)} done")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("status", help="each dataset: active version, rows, date range, loaded-at")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("ingest", help="validate a file and commit it as a new version")
    p.add_argument("path")
    p.add_argument("--kind", choices=ingest.UPLOAD_KINDS,
                   help="what the file holds; default: the profile's kind, else detected from the columns")
    p.add_argument("--level", choices=list(schema.LEVELS), help="boundary level (areas, population)")
    p.add_argument("--year", type=int, help="population year when the file has no year column")
    p.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                   help="map a canonical field to a column of the file (repeatable)")
    p.add_argument("--profile", help="a saved mapping profile: its name (saved from the upload page or "
                                     "--save-profile) or a path to its JSON file")
    p.add_argument("--save-profile", metavar="NAME", help="after a commit, save the mapping used as this profile")
    p.add_argument("--crs", help="coordinate system of projected X/Y columns, e.g. EPSG:3435")
    p.add_argument("--timezone", help="time zone to store times in (IANA name, e.g. America/Chicago)")
    p.add_argument("--source-timezone", help="what the file's times are: local (default), UTC or a zone name")
    p.add_argument("--swap-latlon", action="store_true", help="the latitude and longitude columns are swapped")
    p.add_argument("--date-format", help="strftime format of the date column, e.g. '%%m/%%d/%%Y %%I:%%M:%%S %%p'")
    p.add_argument("--mode", choices=["append", "replace"], default="append",
                   help="append (newer record wins on the same id) or replace the dataset")
    p.add_argument("--author", help="name recorded with the version and in the audit log (default: cli:<OS user>)")
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

    p = sub.add_parser("users", help="built-in users: list, add, set-role, set-password, unlock, remove")
    p.add_argument("action", choices=["list", "add", "set-role", "set-password", "unlock", "remove"])
    p.add_argument("username", nargs="?")
    p.add_argument("--role", choices=access.ROLES)
    p.add_argument("--oidc", action="store_true",
                   help="no password: the user signs in through OpenID Connect with this e-mail")
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_users)

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
