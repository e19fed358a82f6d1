"""The question set and every template a person reads. Data, not code."""
