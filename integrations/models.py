"""Models of this app (filled by later issues)."""
