"""Alembic revisions of data sessions (the ``datalab`` branch off the core history)."""
