"""Settings and the root of CyberLab's error family."""

from config.errors import ConfigError, CyberlabError
from config.settings import (
    CollectionSettings,
    Secret,
    Settings,
    load_settings,
)

__all__ = [
    "CollectionSettings",
    "ConfigError",
    "CyberlabError",
    "Secret",
    "Settings",
    "load_settings",
]
