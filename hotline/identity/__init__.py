"""Identity and access: sign-in through each kommune's OpenID Connect provider, roles, server-side sessions,
machine credentials (API tokens, webhook secrets) and the append-only audit log."""
