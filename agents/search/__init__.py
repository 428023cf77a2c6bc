"""The search service: keeps the search index (``search_terms``) from the pictures' and the
users' events."""
