"""Data protection: the identifier guard, and key rotation."""
