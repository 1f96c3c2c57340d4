"""Inputs: where messages come from."""
