"""Bridges to other evaluation tools (lm-eval)."""
