"""Provider adapters by kind (``base`` is the contract, ``registry`` picks one per kind and
country from settings)."""
