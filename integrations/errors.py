"""Domain errors of the integrations app (subclasses of DomainError, each with a stable code)."""

from aventide.core.errors import DomainError

__all__ = ["DomainError"]
