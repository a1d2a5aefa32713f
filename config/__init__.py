"""Settings and the root of CyberLab's error family."""

from config.errors import ConfigError, CyberlabError
from config.secret import Secret
from config.settings import (
    CollectionSettings,
    ConnectorSettings,
    ExpirySettings,
    SanitizeSettings,
    Settings,
    ValidationSettings,
    load_settings,
)
from config.soc_policy import SocPolicySettings

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
