"""Domain errors of the support app (subclasses of DomainError, each with a stable code)."""

from aventide.core.errors import DomainError

__all__ = ["DomainError"]
