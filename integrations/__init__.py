"""Integrations app. See ARCHITECTURE.md for its responsibilities."""
