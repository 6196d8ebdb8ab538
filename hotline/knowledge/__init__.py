"""The knowledge bank: general and per-kommune articles on the shared topic taxonomy, their versions, and the
search agents use. Distribution over NATS lives in :mod:`kb_sync`."""
