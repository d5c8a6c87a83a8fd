"""Utilities every package may use (the lowest layer besides ``dexego.errors`` and ``dexego.config``): atomic files."""
