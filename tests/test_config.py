"""config: defaults, conversions, clear errors, and the settings table of docs/operations.md naming every
setting with its default."""

from __future__ import annotations

import re

import pytest

from dashboard import config
from dashboard.errors import ConfigError
from tests.conftest import REPO


def test_defaults_load_without_environment():
    cfg = config.load({})
    assert cfg.data_dir == REPO / "var"
    assert cfg.tile_url == "" and cfg.lock_timeout == 30.0 and cfg.show_error_details is False
    assert cfg.store_path.name == "dashboard.duckdb"


def test_environment_overrides_and_converts(tmp_path):
    cfg = config.load({"DASHBOARD_DATA_DIR": str(tmp_path), "DASHBOARD_LOCK_TIMEOUT": "2.5",
                       "DASHBOARD_SHOW_ERROR_DETAILS": "yes", "DASHBOARD_LOG_LEVEL": "debug"})
    assert cfg.data_dir == tmp_path and cfg.lock_timeout == 2.5 and cfg.show_error_details
    assert cfg.log_level == "DEBUG"


@pytest.mark.parametrize(("name", "value"), [("DASHBOARD_LOCK_TIMEOUT", "-1"), ("DASHBOARD_LOCK_TIMEOUT", "soon"),
                                             ("DASHBOARD_SHOW_ERROR_DETAILS", "maybe")])
def test_bad_values_name_the_setting_and_the_fix(name, value):
    with pytest.raises(ConfigError) as info:
        config.load({name: value})
    assert name in info.value.message and "Default" in info.value.hint


DOCS_SETTINGS = REPO / "docs" / "operations.md"


def test_every_setting_has_help_and_is_in_the_docs():
    text = DOCS_SETTINGS.read_text()
    table = dict(re.findall(r"^\| `(DASHBOARD_[A-Z_]+)` \| `([^`]*)` \|", text, flags=re.M))
    for setting in config.SETTINGS:
        assert setting.help.strip(), setting.name
        assert setting.name in table, f"the settings table of docs/operations.md misses {setting.name}"
    assert set(table) == {s.name for s in config.SETTINGS}, "docs/operations.md lists a setting that does not exist"
    for setting in config.SETTINGS:
        shown = table[setting.name].replace("<repo>", str(REPO))
        assert shown == setting.default, f"docs/operations.md's default of {setting.name} differs from the code"


def test_public_view_settings_default_and_convert():
    cfg = config.load({})
    assert cfg.public_view is True and cfg.min_cell_count == 5
    assert "STALKING" in cfg.sensitive_offenses and "CRIM SEXUAL ASSAULT" in cfg.sensitive_offenses
    custom = config.load({"DASHBOARD_PUBLIC_VIEW": "false", "DASHBOARD_MIN_CELL_COUNT": "11",
                          "DASHBOARD_SENSITIVE_OFFENSES": " stalking , ,Arson,STALKING"})
    assert (custom.public_view, custom.min_cell_count, custom.sensitive_offenses) == (False, 11, ("STALKING", "ARSON"))
    assert config.load({"DASHBOARD_SENSITIVE_OFFENSES": ""}).sensitive_offenses == ()


@pytest.mark.parametrize("value", ["0", "2", "-3", "five"])
def test_min_cell_count_refuses_what_cannot_protect(value):
    with pytest.raises(ConfigError) as info:
        config.load({"DASHBOARD_MIN_CELL_COUNT": value})
    assert "DASHBOARD_MIN_CELL_COUNT" in info.value.message


def test_runtime_settings_round_trip_through_their_text():
    cfg = config.load({})
    for name in config.RUNTIME_SETTINGS:
        text = config.text_value(cfg, name)
        assert config.with_overrides(cfg, {name: text}) == cfg, name
    assert config.text_value(cfg, "DASHBOARD_PUBLIC_VIEW") == "true"
    assert config.text_value(cfg, "DASHBOARD_MIN_CELL_COUNT") == "5"
