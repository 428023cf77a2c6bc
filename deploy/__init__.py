"""How Picasso is run outside the Python code itself: the embedded local stack and its config."""
