"""Alembic revisions of the reference-file catalog (the ``catalog`` branch off the core)."""
