"""Knowledge-bank distribution over NATS: subjects, publisher, replica, responder."""
