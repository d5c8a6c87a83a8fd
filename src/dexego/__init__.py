"""dexego: learn dexterous robot manipulation from egocentric human data."""

__version__ = "0.1.0"
