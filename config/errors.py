"""The one error family every CyberLab layer raises from.

It lives in config/ because config is the bottom of the dependency chain
(cyberlab -> indexer -> connectors -> config), so every layer can import it.
"""


class CyberlabError(Exception):
    """Root of every error CyberLab raises on purpose."""


class ConfigError(CyberlabError):
    """Settings are missing, unknown, malformed or unsafe."""
