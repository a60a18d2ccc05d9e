"""The database: settings, engine, SQLModel tables, Alembic migrations and the bulk ledger import.

SQLite is the embedded default; PostgreSQL (psycopg 3) is the production database.
Nothing here solves anything: `scheduler/` stays pure and never imports this package.
"""
