"""Digital Hotline: the shared evening and weekend citizen hotline of a federation of Danish kommuner."""

__version__ = "0.1.0"
