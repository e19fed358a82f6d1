"""Tables, sessions, queries and migrations."""
