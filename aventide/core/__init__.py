"""Shared kernel: request context, errors, logging, metrics, base model. Imports no domain app."""
