"""Settings: precedence, types, unknown keys, secrets and the production guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, Secret, load_settings
from config.secret import redact_urls


def test_defaults_load_with_collections() -> None:
    settings = load_settings(environ={})
    assert settings.taxii.default_page_size == 100
    assert settings.collection("public-blocklist") is not None
    assert settings.collection("public-blocklist").public is True  # type: ignore[union-attr]


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[server]\nworkers = 6\nbind = "127.0.0.1:9000"\n')
    settings = load_settings(environ={"CYBERLAB_CONFIG": str(config), "CYBERLAB_SERVER__WORKERS": "3"})
    assert settings.server.workers == 3
    assert settings.server.bind == "127.0.0.1:9000"


def test_environment_values_are_coerced_to_declared_types() -> None:
    settings = load_settings(
        environ={
            "CYBERLAB_SERVER__DEV": "true",
            "CYBERLAB_TAXII__MAX_PAGE_SIZE": "250",
            "CYBERLAB_STORE__DATA_DIR": "/srv/cyberlab",
        }
    )
    assert settings.server.dev is True
    assert settings.taxii.max_page_size == 250
    assert settings.store.data_dir == Path("/srv/cyberlab")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CYBERLAB_SERVER__WORKRS": "2"}, "unknown setting.*server.workrs"),
        ({"CYBERLAB_NOPE": "1"}, "unknown setting.*nope"),
        ({"CYBERLAB_SERVER__WORKERS": "many"}, "server.workers must be an integer"),
        ({"CYBERLAB_SERVER__DEV": "perhaps"}, "server.dev must be true or false"),
        ({"CYBERLAB_STORE__BACKEND": "mongodb"}, "is unknown; use .sqlite. or .elasticsearch."),
        ({"CYBERLAB_TAXII__DEFAULT_PAGE_SIZE": "5000"}, "default_page_size"),
        ({"CYBERLAB_CONFIG": "/nonexistent/cyberlab.toml"}, "config file not found"),
    ],
)
def test_bad_settings_are_clear_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ)


def test_unknown_collection_key_and_bad_role_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[collections.city-indicators]\ntlp = "red"\n')
    with pytest.raises(ConfigError, match=r"collections\.city-indicators\.tlp"):
        load_settings(environ={"CYBERLAB_CONFIG": str(config)})
    config.write_text('[collections.city-indicators]\nread_roles = ["everyone"]\n')
    with pytest.raises(ConfigError, match="unknown role 'everyone'"):
        load_settings(environ={"CYBERLAB_CONFIG": str(config)})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[server\n")
    with pytest.raises(ConfigError, match=r"broken\.toml is not valid TOML"):
        load_settings(environ={"CYBERLAB_CONFIG": str(config)})


def test_secret_never_shows_its_value() -> None:
    settings = load_settings(environ={"CYBERLAB_SERVER__SIGNING_KEY": "s3cret-value-that-must-not-leak-0000"})
    for text in (repr(settings), str(settings), repr(settings.server), f"{settings.server.signing_key}"):
        assert "s3cret" not in text
    assert settings.server.signing_key.reveal().startswith("s3cret")
    assert Secret("a") == Secret("a")


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("at http://es:s3cret@10.0.0.5:9200 (a read)", "at http://es:********@10.0.0.5:9200 (a read)"),
        ("https://s3cret-token@host/x", "https://********@host/x"),  # a lone token is all secret
        ("http://u:p@s3cret@h:1/, http://v:s3cret@h2", "http://u:********@h:1/, http://v:********@h2"),
        ("mail soc@example.org, see http://h/p@q", "mail soc@example.org, see http://h/p@q"),  # no userinfo
    ],
)
def test_url_credentials_are_masked_for_logs(text: str, logged: str) -> None:
    assert redact_urls(text) == logged


def test_placeholder_signing_key_refused_outside_dev_mode() -> None:
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings(environ={}).require_safe_for_serving()
    with pytest.raises(ConfigError, match="at least 32"):
        load_settings(environ={"CYBERLAB_SERVER__SIGNING_KEY": "short"}).require_safe_for_serving()
    load_settings(environ={"CYBERLAB_SERVER__DEV": "1"}).require_safe_for_serving()
