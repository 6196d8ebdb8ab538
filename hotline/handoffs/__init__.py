"""Hand-offs: what the hotline cannot solve, passed to the department of the caller's kommune that owns the topic."""
