"""Alembic migrations of the lineage store, shipped inside the package."""
