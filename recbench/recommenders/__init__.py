"""Sequential recommenders whose hidden states the interpreters read."""
