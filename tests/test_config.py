"""Settings come from awareness.toml, then AWARENESS_* variables; bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from awareness.config.settings import load_settings
from awareness.core.errors import ConfigError


def test_defaults_make_paths_relative_to_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "awareness.toml"
    cfg.write_text('profiles = "teams"\n')
    s = load_settings(cfg, environ={})
    assert s.profiles == tmp_path / "teams"
    assert s.sources == tmp_path / "sources.yaml"
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'awareness.db'}"
    assert s.smtp_url == "" and s.outbox == tmp_path / "var" / "outbox"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text('smtp_url = "smtp://mail.example.org:25"\nfetch_allow = ["10.0.0.0/8"]\n')
    s = load_settings(cfg, environ={"AWARENESS_SMTP_URL": "smtp+starttls://me@mail.example.org:587",
                                    "AWARENESS_FETCH_ALLOW": "127.0.0.1, intranet.example.nhs.uk",
                                    "AWARENESS_SMTP_PASSWORD": "pw", "AWARENESS_SECRET_KEY": "k"})
    assert s.smtp_url.startswith("smtp+starttls://") and s.smtp_password == "pw" and s.secret_key == "k"
    assert s.fetch_allow == ("127.0.0.1", "intranet.example.nhs.uk")
    assert "intranet.example.nhs.uk" in s.allowed_hosts()


def test_config_named_by_environment_variable(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('sender = "Library <lks@example.nhs.uk>"\n')
    assert load_settings(environ={"AWARENESS_CONFIG": str(cfg)}).sender == "Library <lks@example.nhs.uk>"


@pytest.mark.parametrize("text,key", [
    ('smtp_url = "mail.example.org"\n', "smtp_url"),
    ('database_url = "mysql://x"\n', "database_url"),
    ('fetch_concurrency = "lots"\n', "fetch_concurrency"),
    ('fetch_allow = ["not a host/99"]\n', "fetch_allow"),
    ('shedule = "x"\n', "shedule"),
    ('smtp_password = "x"\n', "smtp_password"),
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "awareness.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, environ={})
    assert e.value.key == key and key in str(e.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_list_settings_from_the_environment_as_a_json_list_or_commas(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)   # no awareness.toml here
    as_json = load_settings(environ={"AWARENESS_FETCH_ALLOW": '["127.0.0.1", "10.0.0.0/8", "intranet.example.nhs.uk"]'})
    assert as_json.fetch_allow == ("127.0.0.1", "10.0.0.0/8", "intranet.example.nhs.uk")
    assert load_settings(environ={"AWARENESS_FETCH_ALLOW": "127.0.0.1,10.0.0.0/8"}).fetch_allow == \
        ("127.0.0.1", "10.0.0.0/8")
    with pytest.raises(ConfigError) as e:
        load_settings(environ={"AWARENESS_FETCH_ALLOW": '["127.0.0.1",'})
    assert e.value.key == "fetch_allow" and "AWARENESS_FETCH_ALLOW" in str(e.value)
