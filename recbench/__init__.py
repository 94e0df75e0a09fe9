"""recbench."""
