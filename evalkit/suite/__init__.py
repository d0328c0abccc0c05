"""suite stage."""
