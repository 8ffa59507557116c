"""Orders app. See ARCHITECTURE.md for its responsibilities."""
