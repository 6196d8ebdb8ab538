"""App assembly: the one place that says what the service is made of (:mod:`hotline.server.app`)."""
