"""Metrics over a filtered dataset: account summary, waves, usage health, renewal, learning, X-Ray data."""
