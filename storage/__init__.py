"""Storage: SQLAlchemy schema, sessions, Alembic migrations, file store."""

from .db import Database, open_database
from .filestore import FileStore, FileStoreError, StoredFile

__all__ = ["Database", "FileStore", "FileStoreError", "StoredFile", "open_database"]
