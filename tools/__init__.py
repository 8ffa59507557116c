"""Developer tooling that is not part of the application (mutation testing, ...)."""
