"""Alembic migrations of the dondoc schema; applied by ``dondoc init`` (storage.migrate)."""
