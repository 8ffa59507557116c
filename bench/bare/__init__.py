"""The framework-floor ceiling: a bare Django ASGI app (no middleware, no apps, no database).

``python -m bench.bare`` serves it with the same uvicorn options as ``aventide.server``
(see ``__main__``). ``/bare/async`` is an async view and ``/bare/sync`` a sync view (one
sync_to_async hop), both returning a constant JSON shaped like ``/api/auth/me``'s body.
"""
