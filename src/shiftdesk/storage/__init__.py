"""One storage layer for all of shiftdesk: SQLAlchemy 2 ORM plus Alembic migrations.

SQLite in a per-user data folder by default; ``SHIFTDESK_DATABASE_URL`` selects
another database (``postgresql+psycopg://...`` for shared deployments).
"""

from shiftdesk.storage.database import (
    Database,
    data_dir,
    default_database_url,
    get_database,
    reset_default_databases,
)
from shiftdesk.storage.models import Base, DataFileRecord, JobRecord, SavedModelRecord

__all__ = [
    "Base",
    "DataFileRecord",
    "Database",
    "JobRecord",
    "SavedModelRecord",
    "data_dir",
    "default_database_url",
    "get_database",
    "reset_default_databases",
]
