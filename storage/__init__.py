"""Storage: SQLAlchemy schema, sessions, Alembic migrations, file store."""
