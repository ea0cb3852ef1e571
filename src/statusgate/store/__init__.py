"""Storage: SQLAlchemy Core over SQLite (default) or PostgreSQL; the schema lives in ``schema/`` only."""
