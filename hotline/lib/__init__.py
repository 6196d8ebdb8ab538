"""Small shared plumbing with no business rules."""
