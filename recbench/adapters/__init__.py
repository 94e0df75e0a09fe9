"""Adapters: recommender hidden states -> soft tokens in an LLM's embedding space (one file each)."""

from recbench.adapters.base import Adapter, load_adapter, save_adapter

__all__ = ["Adapter", "load_adapter", "save_adapter"]
