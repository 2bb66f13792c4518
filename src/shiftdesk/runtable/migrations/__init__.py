"""Alembic revisions of the run table (the ``runtable`` branch off the core history)."""
