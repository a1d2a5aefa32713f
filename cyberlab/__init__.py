"""CyberLab's web layer: TAXII 2.1 server (and later the web view and JSON API)."""

from cyberlab.app import create_app

__all__ = ["create_app"]
