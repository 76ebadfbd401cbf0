"""Store backends other than the embedded SQLite file (PostgreSQL)."""
