"""Settings read from ``DASHBOARD_*`` environment variables, each with a default and help text.

This module only reads and converts settings; it must not open files, touch the store or import
Streamlit. The settings table of docs/operations.md is checked against ``SETTINGS`` by a test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from dashboard.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    convert: Callable[[str], Any] = str


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _min_cell_count(text: str) -> int:
    value = int(text)
    # 2 cannot be protected: "fewer than 2" twice under a withheld total (>= 2) pins both cells to 1.
    if value < 1 or value == 2:
        raise ValueError("use 1 (no suppression) or a whole number of at least 3")
    return value


def _offense_list(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip().upper() for part in text.split(",") if part.strip()))


def _database_url(text: str) -> str:
    url = text.strip()
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("use a postgresql://user:password@host:port/database URL, or leave it empty for the "
                         "embedded store")
    return url


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("use true or false")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DASHBOARD_DATA_DIR",
        str(REPO_ROOT / "var"),
        "Folder that holds the embedded store (dashboard.duckdb). Created on first start.",
        Path,
    ),
    Setting(
        "DASHBOARD_DATABASE_URL",
        "",
        "PostgreSQL database for the store (postgresql://user:password@host:port/database), shared by "
        "several app replicas and the CLI. Empty: the embedded DuckDB file in DASHBOARD_DATA_DIR.",
        _database_url,
    ),
    Setting(
        "DASHBOARD_SAMPLE_DIR",
        str(REPO_ROOT / "data" / "sample"),
        "Folder of the bundled sample the store is seeded from when it is empty.",
        Path,
    ),
    Setting(
        "DASHBOARD_TILE_URL",
        "",
        "Optional basemap tile URL template ({z}/{x}/{y}); empty means no basemap, which works offline.",
    ),
    Setting(
        "DASHBOARD_TILE_ATTRIBUTION",
        "",
        "Attribution text shown with the basemap tiles named by DASHBOARD_TILE_URL.",
    ),
    Setting(
        "DASHBOARD_STATIC_URL",
        "/app/static/vendor",
        "URL path where the local Leaflet/jQuery/Bootstrap/d3 assets are served (change behind a proxy prefix).",
    ),
    Setting(
        "DASHBOARD_LOCK_TIMEOUT",
        "30",
        "Seconds to wait for the store while another process (an ingest, say) is writing to it.",
        _positive_float,
    ),
    Setting(
        "DASHBOARD_SHOW_ERROR_DETAILS",
        "false",
        "Show tracebacks of unexpected errors in the browser (development only; they are always logged).",
        _bool,
    ),
    Setting(
        "DASHBOARD_LOG_LEVEL",
        "INFO",
        "Python logging level for the app and the CLI (DEBUG, INFO, WARNING, ERROR).",
        lambda text: text.strip().upper(),
    ),
    Setting(
        "DASHBOARD_PUBLIC_VIEW",
        "true",
        "Whether signed-in staff (command, analyst, admin) start in the public-safe view (aggregates only, "
        "small counts withheld, sensitive offenses left out); they may switch it off. The public and council "
        "always get it. Admins can change this at run time.",
        _bool,
    ),
    Setting(
        "DASHBOARD_MIN_CELL_COUNT",
        "5",
        "Public view: smallest count shown as a number; smaller ones read 'fewer than N' (and a second "
        "cell is withheld where a total could reveal one). 1 turns this off; 2 is refused (unprotectable). "
        "Admins can change this at run time.",
        _min_cell_count,
    ),
    Setting(
        "DASHBOARD_SENSITIVE_OFFENSES",
        "CRIM SEXUAL ASSAULT,CRIMINAL SEXUAL ASSAULT,SEX OFFENSE,OFFENSE INVOLVING CHILDREN,HUMAN TRAFFICKING,"
        "STALKING",
        "Public view: comma-separated offense types (as in the offense column) left out of every count. "
        "Admins can change this at run time.",
        _offense_list,
    ),
    Setting(
        "DASHBOARD_MAX_UPLOAD_MB",
        "200",
        "Largest file the upload page and the ingest command accept, in MB (also the limit on what an "
        "archive may expand to). Keep at or below server.maxUploadSize in .streamlit/config.toml.",
        _positive_float,
    ),
    Setting(
        "DASHBOARD_LOCKOUT_ATTEMPTS",
        "5",
        "Failed sign-ins in a row after which a user name is locked (each failure before that doubles the "
        "wait before the next try, from 1 s).",
        lambda text: max(1, int(text)),
    ),
    Setting(
        "DASHBOARD_LOCKOUT_MINUTES",
        "15",
        "How long a locked user name stays locked.",
        _positive_float,
    ),
    Setting(
        "DASHBOARD_SESSION_HOURS",
        "12",
        "How long a built-in sign-in lasts before the user must sign in again.",
        _positive_float,
    ),
    Setting(
        "DASHBOARD_OIDC_DEFAULT_ROLE",
        "public",
        "Role of a user signed in through OpenID Connect (st.login) who has no entry in the user store; "
        "give staff roles with `python -m dashboard users add EMAIL --role ... --oidc`.",
        lambda text: _role(text),
    ),
)

# Settings an admin may change from the Users and audit page; stored in the store (app_settings),
# audited, and applied on top of the environment on the next rerun of every session.
RUNTIME_SETTINGS = ("DASHBOARD_PUBLIC_VIEW", "DASHBOARD_MIN_CELL_COUNT", "DASHBOARD_SENSITIVE_OFFENSES")


def _role(text: str) -> str:
    from dashboard.access import check_role

    return check_role(text.strip().lower())


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    sample_dir: Path
    tile_url: str
    tile_attribution: str
    static_url: str
    lock_timeout: float
    show_error_details: bool
    log_level: str
    public_view: bool
    min_cell_count: int
    sensitive_offenses: tuple[str, ...]
    max_upload_mb: float
    lockout_attempts: int
    lockout_minutes: float
    session_hours: float
    oidc_default_role: str

    @property
    def store_path(self) -> Path:
        return self.data_dir / "dashboard.duckdb"

    @property
    def store_target(self) -> Path | str:
        """What Store() opens: the PostgreSQL URL when one is set, else the embedded DuckDB file."""
        return self.database_url or self.store_path


def _field_name(setting: Setting) -> str:
    return setting.name.removeprefix("DASHBOARD_").lower()


def load(environ: Mapping[str, str] | None = None) -> Config:
    """Read every setting from ``environ`` (default ``os.environ``); raise ConfigError on a bad value."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name, setting.default)
        try:
            values[_field_name(setting)] = setting.convert(raw)
        except ValueError as exc:
            raise ConfigError(
                f"Setting {setting.name} has an invalid value",
                f"{setting.name}={raw!r}: {exc}.",
                hint=f"{setting.help} Default: {setting.default!r}.",
            ) from exc
    known = {f.name for f in fields(Config)}
    assert set(values) == known, "SETTINGS and Config must name the same fields"
    return Config(**values)


def with_overrides(cfg: Config, overrides: Mapping[str, str]) -> Config:
    """``cfg`` with run-time settings (``RUNTIME_SETTINGS`` only) replaced; ConfigError on a bad value."""
    changes: dict[str, Any] = {}
    by_name = {s.name: s for s in SETTINGS}
    for name, raw in overrides.items():
        if name not in RUNTIME_SETTINGS:
            continue  # a stored value for a setting that is no longer run-time editable is ignored
        setting = by_name[name]
        try:
            changes[_field_name(setting)] = setting.convert(raw)
        except ValueError as exc:
            raise ConfigError(f"Setting {name} has an invalid value", f"{name}={raw!r}: {exc}.",
                              hint=setting.help) from exc
    return replace(cfg, **changes) if changes else cfg


def setting(name: str) -> Setting:
    return next(s for s in SETTINGS if s.name == name)


def text_value(cfg: Config, name: str) -> str:
    """Setting ``name`` of ``cfg`` written back as its environment text (what an admin edits)."""
    value = getattr(cfg, _field_name(setting(name)))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)
