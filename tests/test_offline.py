"""Tests for dashboard.offline: every asset link reaching the browser is local, and installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import folium
import folium.plugins
import geopandas as gpd
import pandas as pd
import pytest
import streamlit_folium
from shapely.geometry import box

from dashboard import maps, offline

STATIC_URL = "/app/static/vendor"
SITE_PACKAGES = Path(folium.__file__).resolve().parents[1]
# Every file the pinned folium / branca / streamlit-folium take asset links from for the libraries we serve.
LINK_SOURCES = (
    "folium/folium.py",
    "folium/plugins/heat_map.py",
    "folium/plugins/marker_cluster.py",
    "folium/plugins/fast_marker_cluster.py",
    "branca/colormap.py",
    "streamlit_folium/__init__.py",
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real install from the npm registry into a fresh folder (about 3 s, once per module)."""
    static_dir = tmp_path_factory.mktemp("static") / "vendor"
    offline.install(static_dir, quiet=True)
    return static_dir


def _choropleth_with_everything() -> folium.Map:
    areas = gpd.GeoDataFrame(
        {"area_id": ["1", "2"], "name": ["North", "South"]},
        geometry=[box(-87.7, 41.9, -87.6, 42.0), box(-87.7, 41.8, -87.6, 41.9)],
        crs="EPSG:4326",
    )
    values = pd.DataFrame({"area_id": ["1", "2"], "count": [10, 20]})
    m = maps.count_choropleth(
        areas, values, value_column="count", label="Incidents", legend_title="Incidents", level_label="Area"
    )
    # The other plugins the app may draw, so their links are checked too.
    folium.plugins.HeatMap([[41.9, -87.65], [41.85, -87.62]]).add_to(m)
    folium.plugins.FastMarkerCluster([[41.9, -87.65], [41.85, -87.62]]).add_to(m)
    folium.plugins.MarkerCluster().add_to(m)
    return m


def _links_st_folium_sends(
    m: folium.Map, monkeypatch: pytest.MonkeyPatch, patch: bool
) -> dict[str, list[str]]:
    """Call the real st_folium with its frontend call recorded instead of sent."""
    sent: dict[str, list[str]] = {}

    def record(**kwargs):
        sent["css_links"] = kwargs["css_links"]
        sent["js_links"] = kwargs["js_links"]
        return kwargs["default"]

    monkeypatch.setattr(streamlit_folium, "_component_func", record)
    if patch:
        offline.patch_streamlit_folium(STATIC_URL)
    streamlit_folium.st_folium(m, key="map", returned_objects=["last_active_drawing"])
    return sent


def test_every_cdn_url_in_the_installed_sources_is_served_or_deliberately_dropped():
    found = set()
    for relative in LINK_SOURCES:
        text = (SITE_PACKAGES / relative).read_text(encoding="utf-8")
        found |= set(re.findall(r"[\"'](https?://[^\"']+\.(?:js|css))[\"']", text))
    assert found, "no CDN links found: has the layout of the installed packages changed?"
    unknown = sorted(found - set(offline.LOCAL_FOR_CDN) - offline.NOT_SHIPPED)
    assert unknown == [], f"new CDN links; add them to offline.ASSETS or NOT_SHIPPED: {unknown}"


def test_install_puts_every_file_in_place(installed: Path):
    for asset in offline.ASSETS:
        path = installed / asset.local_name
        assert path.is_file() and path.stat().st_size > 0, asset
    assert (installed / "leaflet.css").read_text(encoding="utf-8").count("images/layers.png") >= 1
    assert 'version:"3.5.5"' in (installed / "d3-3.5.5.min.js").read_text(encoding="utf-8")
    assert 'version="4.13.0"' in (installed / "d3-4.13.0.min.js").read_text(encoding="utf-8")


def test_st_folium_sends_only_local_links_that_exist(installed: Path, monkeypatch: pytest.MonkeyPatch):
    unpatched = _links_st_folium_sends(_choropleth_with_everything(), monkeypatch, patch=False)
    # Without the patch st_folium adds its own d3 CDN links: this is what blanks the map offline.
    assert "https://d3js.org/d3.v4.min.js" in unpatched["js_links"]

    sent = _links_st_folium_sends(_choropleth_with_everything(), monkeypatch, patch=True)
    links = sent["js_links"] + sent["css_links"]
    assert offline.external_urls(links) == []
    assert {f"{STATIC_URL}/{name}" for name in ("leaflet.js", "d3-3.5.5.min.js", "d3-4.13.0.min.js")} <= set(
        links
    )
    assert f"{STATIC_URL}/leaflet_heat.min.js" in links
    assert f"{STATIC_URL}/MarkerCluster.Default.css" in links
    for link in links:
        assert link.startswith(f"{STATIC_URL}/"), link
        assert (installed / link.removeprefix(f"{STATIC_URL}/")).is_file(), link
    # Leaflet must load before the plugins that extend it; d3 before the legend script.
    assert sent["js_links"].index(f"{STATIC_URL}/leaflet.js") < sent["js_links"].index(
        f"{STATIC_URL}/leaflet_heat.min.js"
    )


def test_patch_streamlit_folium_is_idempotent_and_follows_a_new_static_url(monkeypatch: pytest.MonkeyPatch):
    calls = []
    monkeypatch.setattr(streamlit_folium, "_component_func", lambda **kwargs: calls.append(kwargs))
    original = streamlit_folium._component_func
    offline.patch_streamlit_folium("/a")
    offline.patch_streamlit_folium("/b")
    patched = streamlit_folium._component_func
    offline.patch_streamlit_folium("/b")
    assert streamlit_folium._component_func is patched
    assert patched.__wrapped__ is original
    streamlit_folium._component_func(js_links=["https://d3js.org/d3.v4.min.js"], css_links=[])
    assert calls == [{"js_links": ["/b/d3-4.13.0.min.js"], "css_links": []}]


def test_install_twice_calls_no_npm_and_writes_nothing(installed: Path, monkeypatch: pytest.MonkeyPatch):
    def no_npm(*args, **kwargs):
        raise AssertionError(f"npm was called on an up-to-date install: {args}")

    def no_write(*args, **kwargs):
        raise AssertionError(f"an up-to-date install wrote a file: {args}")

    monkeypatch.setattr(offline.subprocess, "run", no_npm)
    monkeypatch.setattr(offline.shutil, "which", no_npm)
    monkeypatch.setattr(offline, "_write_atomic", no_write)
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in installed.iterdir()}
    paths = offline.install(installed, quiet=True)
    assert paths == [installed / asset.local_name for asset in offline.ASSETS]
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in installed.iterdir()} == before


def test_install_fetches_again_when_a_file_is_missing(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    copy = tmp_path / "vendor"
    shutil.copytree(installed, copy)
    (copy / "leaflet.js").unlink()

    class Fetched(Exception):
        pass

    def fake_run(args, **kwargs):
        raise Fetched(args)

    monkeypatch.setattr(offline.subprocess, "run", fake_run)
    with pytest.raises(Fetched) as fetched:
        offline.install(copy, quiet=True)
    assert "leaflet@1.9.3" in fetched.value.args[0]


def test_install_without_npm_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(offline.shutil, "which", lambda name: None)
    with pytest.raises(offline.AssetInstallError) as error:
        offline.install(tmp_path / "vendor", quiet=True)
    assert "npm" in error.value.message
    assert "apt-get install" in error.value.hint and "setup.sh" in error.value.hint


def test_install_reports_npm_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def failing_run(args, **kwargs):
        return subprocess.CompletedProcess(
            args, 1, stdout="", stderr="npm error code E404\nnpm error 404 Not Found"
        )

    monkeypatch.setattr(offline.subprocess, "run", failing_run)
    with pytest.raises(offline.AssetInstallError) as error:
        offline.install(tmp_path / "vendor", quiet=True)
    assert "E404" in error.value.message
    assert "registry" in error.value.hint
    assert not (tmp_path / "vendor" / offline.STAMP_NAME).exists()


def test_localize_links_rewrites_drops_and_keeps():
    links = [
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js",
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js",
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
        "https://example.org/some-plugin.js",
        "//example.org/protocol-relative.js",
        "/app/static/vendor/leaflet.js",
        "/app/static/custom.css",
    ]
    assert offline.localize_links(links, "/app/static/vendor/") == [
        "/app/static/vendor/leaflet.js",
        "/app/static/custom.css",
    ]


def test_localize_links_maps_every_known_cdn_link_to_a_listed_file():
    local_names = {asset.local_name for asset in offline.ASSETS}
    for url, name in offline.LOCAL_FOR_CDN.items():
        assert offline.localize_links([url], STATIC_URL) == [f"{STATIC_URL}/{name}"]
        assert name in local_names


def test_localize_folium_classes_is_idempotent_and_keeps_folium_module_lists():
    offline.localize_folium_classes("/x")
    offline.localize_folium_classes("/x")
    assert dict(folium.Map.default_js)["leaflet"] == "/x/leaflet.js"
    assert "awesome_markers" not in dict(folium.Map.default_js)
    offline.localize_folium_classes(STATIC_URL)
    for cls in (
        folium.Map,
        folium.plugins.HeatMap,
        folium.plugins.MarkerCluster,
        folium.plugins.FastMarkerCluster,
    ):
        links = [url for _, url in cls.default_js + cls.default_css]
        assert links and all(url.startswith(f"{STATIC_URL}/") for url in links), cls
    # folium's own module-level list must not have been edited in place.
    assert folium.folium._default_js[0][1].startswith("https://")


def test_localize_html_leaves_no_external_script_or_link():
    m = _choropleth_with_everything()
    rendered = m.get_root().render()
    # branca's legend adds its d3 CDN link while rendering, whatever the class-level links say.
    assert "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js" in rendered
    localized = offline.localize_html(rendered, STATIC_URL)
    assert offline.external_urls(localized) == []
    assert f'<script src="{STATIC_URL}/d3-3.5.5.min.js"></script>' in localized


def test_localize_html_handles_other_tag_spellings():
    page = (
        "<head>"
        "<script type='text/javascript' src='https://code.jquery.com/jquery-3.7.1.min.js'></script>"
        '<SCRIPT src="https://example.org/unknown.js" defer>\n</SCRIPT>'
        '<link href="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css" rel="stylesheet">'
        '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css"/>'
        "<script>var keep = 1;</script>"
        "</head>"
    )
    localized = offline.localize_html(page, STATIC_URL)
    assert offline.external_urls(localized) == []
    assert f"src='{STATIC_URL}/jquery-3.7.1.min.js'" in localized
    assert f'href="{STATIC_URL}/leaflet.css"' in localized
    assert "<script>var keep = 1;</script>" in localized
    assert "unknown.js" not in localized and "fontawesome" not in localized


def test_external_urls_finds_links_in_html_and_lists():
    page = '<script src="https://a.example/x.js"></script><link href="/local.css"><link href="//b.example/y.css">'
    assert offline.external_urls(page) == ["https://a.example/x.js", "//b.example/y.css"]
    assert offline.external_urls(["/a.js", "http://c.example/z.js"]) == ["http://c.example/z.js"]
