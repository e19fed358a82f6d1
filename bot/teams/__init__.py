"""The Microsoft Teams front end: parse what Teams sends, call the request path, acknowledge;
and send the outbox to people on Teams."""
