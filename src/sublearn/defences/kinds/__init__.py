"""The defences, one module each: a module with a ``DEFENCE`` is a kind the registry finds."""
