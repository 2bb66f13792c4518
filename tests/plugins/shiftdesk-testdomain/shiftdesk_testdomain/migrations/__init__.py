"""The test domain's Alembic revisions: a branch off the core's history."""
