"""Decoders and encoders."""
