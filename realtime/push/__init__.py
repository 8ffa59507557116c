"""Web Push (RFC 8030/8291/8292): subscriptions per principal, notices sent through the
integrations hub's ``push`` kind. docs/operations/push.md."""
