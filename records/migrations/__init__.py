"""Alembic migrations of the QA record (run by ``records.store.open_store``; no alembic.ini needed)."""
