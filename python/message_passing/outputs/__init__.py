"""Outputs: where messages go."""
