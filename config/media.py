"""The media types CyberLab speaks, defined once for every layer (config is the bottom layer:
the connectors ask upstream TAXII servers for these, the store records them per object, the
server answers with them)."""

TAXII_JSON = "application/taxii+json"
STIX_JSON = "application/stix+json"
TAXII_MEDIA_TYPE = f"{TAXII_JSON};version=2.1"
STIX_MEDIA_TYPE = f"{STIX_JSON};version=2.1"
