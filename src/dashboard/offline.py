"""Serve the map libraries (Leaflet, jQuery, Bootstrap, d3, marker-cluster) from this server, not CDNs.

The network this runs on has no internet: every asset link folium, branca and streamlit-folium emit is
rewritten to the local copy under ``static/vendor`` (installed once from the npm registry by ``install``)
or dropped. This module must not import Streamlit at import time, fetch anything at run time, or ever
hand an external URL to the browser.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import folium

from dashboard.errors import DashboardError

log = logging.getLogger(__name__)

FOLIUM_VERSION = metadata.version("folium")
STAMP_NAME = ".assets.json"
NPM_TIMEOUT_S = 300


class AssetInstallError(DashboardError):
    default_title = "Map assets could not be installed"


@dataclass(frozen=True)
class Asset:
    """One file served locally: where it comes from and which CDN links it stands in for.

    package == "folium" means the file ships inside the installed folium package; every other package
    is fetched from the npm registry with ``npm pack package@version``.
    """

    package: str
    version: str
    path: str  # inside the package (npm tarballs: relative to their top folder)
    local_name: str  # relative to static_dir, and to the static URL
    replaces: tuple[str, ...] = ()


_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
_JSDELIVR = "https://cdn.jsdelivr.net"

# The one download list. CDN URLs are the exact strings in folium 0.20 / branca 0.8.2 /
# streamlit-folium 0.27.4; tests/test_offline.py scans the installed sources and fails on a new one.
ASSETS: tuple[Asset, ...] = (
    Asset(
        "leaflet",
        "1.9.3",
        "dist/leaflet.js",
        "leaflet.js",
        (f"{_JSDELIVR}/npm/leaflet@1.9.3/dist/leaflet.js",),
    ),
    Asset(
        "leaflet",
        "1.9.3",
        "dist/leaflet.css",
        "leaflet.css",
        (f"{_JSDELIVR}/npm/leaflet@1.9.3/dist/leaflet.css",),
    ),
    # leaflet.css refers to images/… relative to itself, and Leaflet finds its marker icon through it.
    Asset("leaflet", "1.9.3", "dist/images/layers.png", "images/layers.png"),
    Asset("leaflet", "1.9.3", "dist/images/layers-2x.png", "images/layers-2x.png"),
    Asset("leaflet", "1.9.3", "dist/images/marker-icon.png", "images/marker-icon.png"),
    Asset("leaflet", "1.9.3", "dist/images/marker-icon-2x.png", "images/marker-icon-2x.png"),
    Asset("leaflet", "1.9.3", "dist/images/marker-shadow.png", "images/marker-shadow.png"),
    Asset(
        "jquery",
        "3.7.1",
        "dist/jquery.min.js",
        "jquery-3.7.1.min.js",
        ("https://code.jquery.com/jquery-3.7.1.min.js",),
    ),
    Asset(
        "bootstrap",
        "5.2.2",
        "dist/js/bootstrap.bundle.min.js",
        "bootstrap.bundle.min.js",
        (f"{_JSDELIVR}/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js",),
    ),
    Asset(
        "bootstrap",
        "5.2.2",
        "dist/css/bootstrap.min.css",
        "bootstrap.min.css",
        (f"{_JSDELIVR}/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css",),
    ),
    # branca's legend draws with the d3 v3 API; streamlit-folium also loads v4 (d3js.org's "v4" is 4.13.0).
    Asset("d3", "3.5.5", "d3.min.js", "d3-3.5.5.min.js", (f"{_CDNJS}/d3/3.5.5/d3.min.js",)),
    Asset("d3", "4.13.0", "build/d3.min.js", "d3-4.13.0.min.js", ("https://d3js.org/d3.v4.min.js",)),
    Asset(
        "leaflet.markercluster",
        "1.1.0",
        "dist/leaflet.markercluster.js",
        "leaflet.markercluster.js",
        (f"{_CDNJS}/leaflet.markercluster/1.1.0/leaflet.markercluster.js",),
    ),
    Asset(
        "leaflet.markercluster",
        "1.1.0",
        "dist/MarkerCluster.css",
        "MarkerCluster.css",
        (f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.css",),
    ),
    Asset(
        "leaflet.markercluster",
        "1.1.0",
        "dist/MarkerCluster.Default.css",
        "MarkerCluster.Default.css",
        (f"{_CDNJS}/leaflet.markercluster/1.1.0/MarkerCluster.Default.css",),
    ),
    Asset(
        "folium",
        FOLIUM_VERSION,
        "templates/leaflet_heat.min.js",
        "leaflet_heat.min.js",
        (f"{_JSDELIVR}/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js",),
    ),
)

LOCAL_FOR_CDN: dict[str, str] = {url: asset.local_name for asset in ASSETS for url in asset.replaces}

# Icon fonts and awesome-markers: the dashboard draws no icon markers, so these links are dropped rather
# than shipped (about 1 MB of fonts for nothing).
NOT_SHIPPED: frozenset[str] = frozenset(
    {
        f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js",
        f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css",
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
        f"{_JSDELIVR}/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css",
        f"{_JSDELIVR}/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css",
    }
)

_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def is_external(url: str) -> bool:
    """True for any URL the browser would fetch from another host (http:, https:, protocol-relative)."""
    return bool(_EXTERNAL.match(url.strip()))


# --------------------------------------------------------------------------------------------------
# Install


def _say(quiet: bool, text: str) -> None:
    log.info(text)
    if not quiet:
        print(f"assets: {text}", file=sys.stderr)


def _stamp_text() -> str:
    return json.dumps([asdict(asset) for asset in ASSETS], indent=1, sort_keys=True)


def _is_current(static_dir: Path, targets: list[Path]) -> bool:
    try:
        stamp = (static_dir / STAMP_NAME).read_text(encoding="utf-8")
    except OSError:
        return False
    return stamp == _stamp_text() and all(path.is_file() and path.stat().st_size > 0 for path in targets)


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _npm_pack(specs: list[str], workdir: Path) -> dict[str, Path]:
    """Download the tarballs of ``specs`` into ``workdir``; return spec -> tarball path."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetInstallError(
            message="npm was not found on PATH; it is needed once, at set-up, to fetch the map libraries.",
            hint="Install Node.js and npm (Debian: apt-get install -y npm), then rerun scripts/setup.sh.",
        )
    try:
        done = subprocess.run(
            [npm, "pack", *specs, "--json", "--prefer-offline", "--ignore-scripts"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AssetInstallError(
            message=f"npm pack did not finish: {exc}.",
            hint="Check that the npm registry is reachable (npm ping), then rerun scripts/setup.sh.",
        ) from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise AssetInstallError(
            message=f"npm pack {' '.join(specs)} failed (exit {done.returncode}): {tail}",
            hint="Check that the npm registry is reachable (npm ping) and any proxy settings in ~/.npmrc, "
            "then rerun scripts/setup.sh.",
        )
    try:
        packed = json.loads(done.stdout)
        tarballs = {entry["id"]: workdir / entry["filename"] for entry in packed}
    except (ValueError, KeyError, TypeError) as exc:
        raise AssetInstallError(
            message=f"npm pack printed output this installer cannot read: {done.stdout[:200]!r}.",
            hint="Use npm 7 or later (npm --version), then rerun scripts/setup.sh.",
        ) from exc
    missing = [spec for spec in specs if spec not in tarballs or not tarballs[spec].is_file()]
    if missing:
        raise AssetInstallError(
            message=f"npm pack did not produce a tarball for {', '.join(missing)}.",
            hint="Rerun scripts/setup.sh; if it persists, run `npm pack <name>@<version>` by hand "
            "to see why.",
        )
    return tarballs


def _read_from_tarball(tarball: Path, inner_path: str) -> bytes:
    # npm tarballs have one top folder (normally "package/", not always); match below it, and read
    # members as bytes rather than extracting, so no tar path can write outside static_dir.
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.split("/", 1)[-1] == inner_path:
                handle = archive.extractfile(member)
                if handle is not None:
                    return handle.read()
    raise AssetInstallError(
        message=f"{tarball.name} has no file {inner_path}.",
        hint="The package layout changed: fix the path in dashboard.offline.ASSETS.",
    )


def install(static_dir: Path, quiet: bool = False) -> list[Path]:
    """Put every file of ``ASSETS`` under ``static_dir`` (normally <repo>/static/vendor).

    Idempotent: a stamp of the asset list is written last, and when it matches and every file exists
    nothing is fetched. Returns the local paths, in ``ASSETS`` order. Raises AssetInstallError when npm
    is missing or fails.
    """
    static_dir = Path(static_dir)
    targets = [static_dir / asset.local_name for asset in ASSETS]
    if _is_current(static_dir, targets):
        _say(quiet, f"up to date in {static_dir}")
        return targets

    static_dir.mkdir(parents=True, exist_ok=True)
    specs = list(dict.fromkeys(f"{a.package}@{a.version}" for a in ASSETS if a.package != "folium"))
    _say(quiet, f"fetching {', '.join(specs)} from the npm registry")
    with tempfile.TemporaryDirectory(prefix="dashboard-assets-") as tmp:
        tarballs = _npm_pack(specs, Path(tmp))
        folium_dir = Path(folium.__file__).resolve().parent
        for asset, target in zip(ASSETS, targets, strict=True):
            if asset.package == "folium":
                data = (folium_dir / asset.path).read_bytes()
            else:
                data = _read_from_tarball(tarballs[f"{asset.package}@{asset.version}"], asset.path)
            _write_atomic(target, data)
    _write_atomic(static_dir / STAMP_NAME, _stamp_text().encode("utf-8"))
    total = sum(path.stat().st_size for path in targets)
    _say(quiet, f"installed {len(targets)} files ({total / 1e6:.1f} MB) in {static_dir}")
    return targets


# --------------------------------------------------------------------------------------------------
# Rewriting links


def localize_links(links: Iterable[str], static_url: str) -> list[str]:
    """Known CDN links -> f"{static_url}/{file}"; local links kept; every other external link dropped.

    Order is kept (streamlit-folium loads them one after another) and duplicates are removed.
    """
    base = static_url.rstrip("/")
    out: list[str] = []
    for link in links:
        if link in LOCAL_FOR_CDN:
            out.append(f"{base}/{LOCAL_FOR_CDN[link]}")
        elif link in NOT_SHIPPED:
            log.debug("dropped asset link (not shipped; no icon markers): %s", link)
        elif is_external(link):
            # A plugin we have no local copy of: loading it would hang or fail offline and blank the map.
            log.warning("dropped external asset link with no local copy: %s", link)
        else:
            out.append(link)
    return list(dict.fromkeys(out))


def _localized_pairs(pairs: Iterable[tuple[str, str]], static_url: str) -> list[tuple[str, str]]:
    out = []
    for name, url in pairs:
        kept = localize_links([url], static_url)
        if kept:
            out.append((name, kept[0]))
    return out


def _link_classes() -> list[type]:
    from folium.plugins import FastMarkerCluster, HeatMap, MarkerCluster

    return [folium.Map, HeatMap, MarkerCluster, FastMarkerCluster]


# The CDN defaults as folium shipped them, captured on first use, so a later call with another
# static_url starts again from the originals instead of from already-rewritten links.
_ORIGINAL_CLASS_LINKS: dict[type, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}


def localize_folium_classes(static_url: str) -> None:
    """Point the class-level default_js/default_css of folium.Map and the HeatMap and marker-cluster
    plugins at the local copies, so ``m.get_root().render()`` links only local files. Idempotent."""
    for cls in _link_classes():
        if cls not in _ORIGINAL_CLASS_LINKS:
            _ORIGINAL_CLASS_LINKS[cls] = (list(cls.default_js), list(cls.default_css))
        original_js, original_css = _ORIGINAL_CLASS_LINKS[cls]
        # New lists, never in-place edits: folium's module-level lists stay as shipped.
        cls.default_js = _localized_pairs(original_js, static_url)
        cls.default_css = _localized_pairs(original_css, static_url)


_SCRIPT_SRC = re.compile(
    r"<script\b[^>]*?\bsrc\s*=\s*([\"'])(?P<url>[^\"']*)\1[^>]*>\s*</script\s*>", re.IGNORECASE | re.DOTALL
)
_LINK_HREF = re.compile(r"<link\b[^>]*?\bhref\s*=\s*([\"'])(?P<url>[^\"']*)\1[^>]*?/?>", re.IGNORECASE)


def _rewrite_tag(match: re.Match[str], static_url: str) -> str:
    url = match.group("url")
    kept = localize_links([url], static_url)
    if not kept:
        return ""
    start, end = match.span("url")
    offset = match.start()
    tag = match.group(0)
    return tag[: start - offset] + kept[0] + tag[end - offset :]


def localize_html(html: str, static_url: str) -> str:
    """Rewrite the <script src> and <link href> of a rendered standalone map page to local files;
    remove the ones with no local copy (branca's legend adds a d3 CDN link while rendering)."""
    rewrite = functools.partial(_rewrite_tag, static_url=static_url)
    return _LINK_HREF.sub(rewrite, _SCRIPT_SRC.sub(rewrite, html))


_ANY_SRC_OR_HREF = re.compile(
    r"<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*([\"'])(?P<url>[^\"']*)\1", re.IGNORECASE
)


def external_urls(html_or_links: str | Iterable[str]) -> list[str]:
    """External URLs among a list of links, or in the <script src>/<link href> of an HTML text."""
    if isinstance(html_or_links, str):
        links = [match.group("url") for match in _ANY_SRC_OR_HREF.finditer(html_or_links)]
    else:
        links = list(html_or_links)
    return [link for link in links if is_external(link)]


# --------------------------------------------------------------------------------------------------
# streamlit-folium

_PATCH_MARK = "_dashboard_static_url"


def patch_streamlit_folium(static_url: str) -> None:
    """Run the css_links/js_links that ``st_folium`` hands its frontend through ``localize_links``.

    st_folium collects them itself (including two hard-coded d3 CDN links whenever a legend is on the
    map), so rewriting folium's classes is not enough. Idempotent; a new static_url replaces the old one.
    """
    import streamlit_folium

    current = streamlit_folium._component_func
    patched_for = getattr(current, _PATCH_MARK, None)
    if patched_for == static_url:
        return
    original = current.__wrapped__ if patched_for is not None else current

    @functools.wraps(original)
    def component_with_local_assets(*args, **kwargs):
        for key in ("css_links", "js_links"):
            if kwargs.get(key) is not None:
                kwargs[key] = localize_links(kwargs[key], static_url)
        return original(*args, **kwargs)

    component_with_local_assets.__wrapped__ = original
    setattr(component_with_local_assets, _PATCH_MARK, static_url)
    streamlit_folium._component_func = component_with_local_assets
