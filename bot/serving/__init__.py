"""`reflect serve`: the front ends, request path and background work of one process."""
