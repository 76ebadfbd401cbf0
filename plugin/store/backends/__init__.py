"""The store's database engines: SQLite (the embedded default, in plugin/store/__init__.py)
and PostgreSQL (`postgres.py` and its schema `postgres_schema.py`, for several hosts), behind
one store API."""
