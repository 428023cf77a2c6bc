"""Picasso on Kubernetes: a kustomize base and overlays (see deploy/README.md)."""
