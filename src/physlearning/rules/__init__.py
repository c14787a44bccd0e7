"""Learning rules; one module per family (each registers itself with :func:`physlearning.registry.register_rule`)."""
