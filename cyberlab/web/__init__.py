"""The small-business web view: server-rendered pages (Jinja autoescaping), no JS needed to read."""
