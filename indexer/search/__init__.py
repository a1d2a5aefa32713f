"""Analyst search: the query model (model.py), what each object contributes (docs.py, values.py)."""
