"""CyberLab's server: TAXII 2.1, the web pages and the JSON API, over the store's read side."""

from cyberlab.app import create_app

__all__ = ["create_app"]
