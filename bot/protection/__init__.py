"""Data protection: the identifier guard, audited access to records, and key rotation."""
