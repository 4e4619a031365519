"""The service's settings: defaults, AWARENESS_<KEY> overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from awareness.config.settings import load_settings
from awareness.core.errors import ConfigError


def test_defaults_and_environment_overrides(tmp_path: Path) -> None:
    config = tmp_path / "awareness.toml"
    config.write_text('log_format = "json"\n')
    s = load_settings(config, environ={})
    assert (s.log_format, s.misfire_grace_time, s.timezone, s.watch_interval) == ("json", 21600, "Europe/London", 5)
    s = load_settings(config, environ={"AWARENESS_LOG_FORMAT": "keyvalue", "AWARENESS_MISFIRE_GRACE_TIME": "3600",
                                       "AWARENESS_TIMEZONE": "Europe/Dublin", "AWARENESS_WATCH_INTERVAL": "30"})
    assert (s.log_format, s.misfire_grace_time, s.timezone, s.watch_interval) == ("keyvalue", 3600, "Europe/Dublin", 30)


@pytest.mark.parametrize("key, value, says", [
    ("log_format", "xml", "config key 'log_format': 'xml' is not one of: keyvalue, json"),
    ("timezone", "Europe/Lundon", "config key 'timezone': 'Europe/Lundon' is not a known time zone"),
    ("misfire_grace_time", "six hours", "config key 'misfire_grace_time': must be a whole number above zero"),
])
def test_a_bad_value_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str,
                                   says: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={f"AWARENESS_{key.upper()}": value})
    assert says in str(caught.value)
