"""Learning rules; one module per family."""
