"""The catalog's gate actions (filled in below)."""
