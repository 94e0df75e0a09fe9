"""Tests of recbench.metrics."""
