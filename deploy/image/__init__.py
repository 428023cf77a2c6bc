"""Picasso's one OCI image (see deploy/README.md)."""
