"""Settings and the root of CyberLab's error family."""

from config.errors import ConfigError, CyberlabError
from config.settings import (
    CollectionSettings,
    ConnectorSettings,
    ExpirySettings,
    SanitizeSettings,
    Secret,
    Settings,
    SocPolicySettings,
    ValidationSettings,
    load_settings,
)

__all__ = [
    "CollectionSettings",
    "ConfigError",
    "ConnectorSettings",
    "CyberlabError",
    "ExpirySettings",
    "SanitizeSettings",
    "Secret",
    "Settings",
    "SocPolicySettings",
    "ValidationSettings",
    "load_settings",
]
