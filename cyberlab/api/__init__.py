"""The JSON API beside TAXII: exports (and, with later issues, search and sightings)."""
