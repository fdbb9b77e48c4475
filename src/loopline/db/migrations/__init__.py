"""Alembic migrations of the metadata database (applied by `loopline db upgrade`)."""
