"""Hooks own connections: the evidence database, the Trivy binary, AWS (through providers-amazon)."""
