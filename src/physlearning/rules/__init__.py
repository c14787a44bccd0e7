"""Learning rules; one module per family (each registers itself in :mod:`physlearning.rules.registry`)."""
