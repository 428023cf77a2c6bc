"""Picasso's thin HTTP edge: authenticates, validates, turns writes into commands, serves reads."""
