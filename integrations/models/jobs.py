"""The outbox: ``Job`` (one unit of work for a provider) and ``Attempt`` (each call)."""

__all__: list[str] = []
