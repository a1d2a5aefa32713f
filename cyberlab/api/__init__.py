"""The JSON API beside TAXII: search and the pivot, sightings, exports, the check, OpenAPI."""
