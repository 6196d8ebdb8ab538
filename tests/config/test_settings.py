"""Settings come from HOTLINE_* variables and an optional TOML file; bad values stop start-up, naming key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import SettingsError, load_settings
from hotline.config.settings import ENVIRONMENT, Settings

PRODUCTION = {
    "HOTLINE_NATS_SERVERS": "nats://nats-1.hotline.example:4222, tls://nats-2.hotline.example:4222",
    "HOTLINE_SMTP_HOST": "relay.kommune.example",
    "HOTLINE_SECRET_KEY": "k" * 40,
    "HOTLINE_DATABASE_URL": "postgresql://hotline@db.hotline.example:5432/hotline",
}


def test_production_settings_are_read_from_the_environment() -> None:
    settings = load_settings(
        {**PRODUCTION, "HOTLINE_PORT": "8080", "HOTLINE_SMTP_PORT": "465", "HOTLINE_SMTP_TLS": "implicit"}
    )
    assert settings.nats.servers == ("nats://nats-1.hotline.example:4222", "tls://nats-2.hotline.example:4222")
    assert settings.server.port == 8080
    assert settings.smtp.port == 465
    assert settings.smtp.tls == "implicit"
    assert settings.database_url == PRODUCTION["HOTLINE_DATABASE_URL"]
    assert settings.demo is False


def test_demo_mode_defaults_to_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    settings = load_settings({"HOTLINE_DEMO": "1", "HOTLINE_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'hotline.sqlite'}"
    assert settings.base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HOTLINE_PORT", "eighty", "HOTLINE_PORT (TOML key 'server.port') = 'eighty'"),
        ("HOTLINE_PORT", "70000", "HOTLINE_PORT (TOML key 'server.port') = '70000'"),
        ("HOTLINE_SMTP_TLS", "maybe", "HOTLINE_SMTP_TLS (TOML key 'smtp.tls') = 'maybe'"),
        (
            "HOTLINE_DATABASE_URL",
            "mysql://db/hotline",
            "HOTLINE_DATABASE_URL (TOML key 'database.url') = 'mysql://db/hotline'",
        ),
        ("HOTLINE_NATS_SERVERS", "http://nats:4222", "HOTLINE_NATS_SERVERS"),
        ("HOTLINE_DEMO", "perhaps", "HOTLINE_DEMO (TOML key 'demo') = 'perhaps'"),
        ("HOTLINE_PUBLIC_BASE_URL", "ftp://x.example", "HOTLINE_PUBLIC_BASE_URL"),
        ("HOTLINE_DATABASE_POOL_SIZE", "0", "HOTLINE_DATABASE_POOL_SIZE"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_value(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**PRODUCTION, name: value})
    assert expected in str(caught.value)


def test_secrets_are_never_echoed_in_errors() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**PRODUCTION, "HOTLINE_SECRET_KEY": "short-secret"})
    assert "HOTLINE_SECRET_KEY" in str(caught.value)
    assert "short-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("HOTLINE_NATS_SERVERS", "Missing setting HOTLINE_NATS_SERVERS"),
        ("HOTLINE_SMTP_HOST", "Missing setting HOTLINE_SMTP_HOST"),
        ("HOTLINE_SECRET_KEY", "HOTLINE_SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_without_its_services(missing: str, message: str) -> None:
    environment = {key: value for key, value in PRODUCTION.items() if key != missing}
    with pytest.raises(SettingsError, match=message):
        load_settings(environment)


def test_production_requires_tls_to_the_smtp_relay() -> None:
    with pytest.raises(SettingsError, match="HOTLINE_SMTP_TLS = 'none'"):
        load_settings({**PRODUCTION, "HOTLINE_SMTP_TLS": "none"})


def test_toml_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text('log_level = "warning"\n[server]\nport = 9000\nhost = "0.0.0.0"\n', encoding="utf-8")
    settings = load_settings({**PRODUCTION, "HOTLINE_CONFIG_FILE": str(config), "HOTLINE_PORT": "9100"})
    assert settings.log_level == "warning"
    assert settings.server.host == "0.0.0.0"  # noqa: S104
    assert settings.server.port == 9100


def test_unknown_key_in_the_toml_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "hotline.toml"
    config.write_text("[server]\nprot = 9000\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"Unknown setting 'server\.prot'"):
        load_settings({**PRODUCTION, "HOTLINE_CONFIG_FILE": str(config)})


def test_missing_or_broken_toml_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings({**PRODUCTION, "HOTLINE_CONFIG_FILE": str(tmp_path / "nope.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({**PRODUCTION, "HOTLINE_CONFIG_FILE": str(broken)})


def test_every_environment_variable_maps_to_a_real_field() -> None:
    for name, (section, field) in ENVIRONMENT.items():
        owner = getattr(Settings(), section) if section else Settings()
        assert field in type(owner).__struct_fields__, name


def test_session_and_rate_limit_settings_have_shift_sized_defaults_and_are_read() -> None:
    default = load_settings(PRODUCTION).identity
    assert (default.session_idle_minutes, default.session_absolute_hours) == (45, 12)
    settings = load_settings({**PRODUCTION, "HOTLINE_SESSION_IDLE_MINUTES": "30", "HOTLINE_API_RATE_LIMIT": "60"})
    assert settings.identity.session_idle_minutes == 30
    assert settings.identity.api_rate_limit == 60


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HOTLINE_SESSION_IDLE_MINUTES", "0"),
        ("HOTLINE_SESSION_IDLE_MINUTES", "800"),
        ("HOTLINE_LOGIN_RATE_LIMIT", "0"),
        ("HOTLINE_DEV_IDP_URL", "http://127.0.0.1:9000/dev-idp"),
    ],
)
def test_bad_identity_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**PRODUCTION, name: value})
    assert name in str(caught.value)


RING_SECRET = "r" * 32


def test_the_ring_instruction_webhook_is_off_by_default_and_read_from_the_environment() -> None:
    assert load_settings(PRODUCTION).telephony.ring_url == ""
    settings = load_settings(
        {
            **PRODUCTION,
            "HOTLINE_TELEPHONY_RING_URL": "https://cc.platform.example/hotline/ring",
            "HOTLINE_TELEPHONY_RING_SECRET": RING_SECRET,
        }
    )
    assert settings.telephony.ring_url == "https://cc.platform.example/hotline/ring"
    assert settings.telephony.ring_secret == RING_SECRET
    local = load_settings(
        {
            **PRODUCTION,
            "HOTLINE_TELEPHONY_RING_URL": "http://127.0.0.1:9000/ring",
            "HOTLINE_TELEPHONY_RING_SECRET": RING_SECRET,
        }
    )
    assert local.telephony.ring_url == "http://127.0.0.1:9000/ring"  # plain http to this machine


@pytest.mark.parametrize(
    ("url", "secret", "expected"),
    [
        (
            "ftp://cc.platform.example/ring",
            RING_SECRET,
            "HOTLINE_TELEPHONY_RING_URL (TOML key 'telephony.ring_url') = 'ftp://cc.platform.example/ring'",
        ),
        (
            "cc.platform.example/ring",
            RING_SECRET,
            "HOTLINE_TELEPHONY_RING_URL (TOML key 'telephony.ring_url') = 'cc.platform.example/ring'",
        ),
        (
            "http://cc.platform.example/ring",
            RING_SECRET,
            "HOTLINE_TELEPHONY_RING_URL (TOML key 'telephony.ring_url') = 'http://cc.platform.example/ring': must be https://",
        ),
        (
            "https://cc.platform.example/ring",
            "",
            "HOTLINE_TELEPHONY_RING_SECRET (TOML key 'telephony.ring_secret') = <hidden>",
        ),
        ("https://cc.platform.example/ring", "too-short-a-secret", "HOTLINE_TELEPHONY_RING_SECRET"),
    ],
)
def test_a_bad_ring_instruction_setting_is_refused_by_name(url: str, secret: str, expected: str) -> None:
    environment = {**PRODUCTION, "HOTLINE_TELEPHONY_RING_URL": url}
    if secret:
        environment["HOTLINE_TELEPHONY_RING_SECRET"] = secret
    with pytest.raises(SettingsError) as caught:
        load_settings(environment)
    assert expected in str(caught.value)
    assert "too-short-a-secret" not in str(caught.value)


def test_plain_http_ring_url_is_allowed_in_demo_mode(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "HOTLINE_DEMO": "1",
            "HOTLINE_DATA_DIR": str(tmp_path),
            "HOTLINE_TELEPHONY_RING_URL": "http://platform.demo.example/ring",
            "HOTLINE_TELEPHONY_RING_SECRET": RING_SECRET,
        }
    )
    assert settings.telephony.ring_url == "http://platform.demo.example/ring"
