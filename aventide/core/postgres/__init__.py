"""Django's PostgreSQL backend with the connection pool made legible (see base.py)."""
