"""Reflect: reflective supervision for child safeguarding practitioners."""
