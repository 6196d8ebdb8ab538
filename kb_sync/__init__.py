"""The knowledge bank distributed over NATS: subjects and payloads, the outbox publisher, the in-memory replica,
the request/reply responder and the kommune push consumer. The database stays the record of truth; NATS
carries every committed change to every app process."""
