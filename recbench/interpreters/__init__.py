"""Interpreters: ways for an LLM to read recommender hidden states."""
