"""Typed settings for every concern of the service (see :mod:`hotline.config.settings`)."""

from hotline.config.settings import (
    DatabaseSettings,
    NatsSettings,
    ServerSettings,
    Settings,
    SettingsError,
    SmtpSettings,
    load_settings,
)

__all__ = [
    "DatabaseSettings",
    "NatsSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "SmtpSettings",
    "load_settings",
]
