"""The dataset identity (sha256) is pinned: committed caches, checkpoints and submissions are keyed on it."""

from __future__ import annotations

from recbench.data import load_dataset
from tests.conftest import TINY

# Computed before the data loaders learned BOMs, CRLF and column mappings; never change these.
ML100K_SHA256 = "5752def8ad12f6b3cd2edbed59b297adee8d78dba8e924f377628522270a0cf5"
ML100K_FILES = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
TINY_SHA256 = "992bc99e967ddc45ce9c5b8096c744140bc38263dcf0f85eb5cf89dc025bc581"
TINY_FILES = {
    "interactions.csv": "f157991a568a3c2084fda34ef8337b61310196203e3fbee536088db6127fe801",
    "items.csv": "686d6d857b91493921c7b6ab1f68de68640318960fe64e0ec4b1e7dc76ecf9c5",
}


def test_ml100k_sha256_is_pinned():
    data = load_dataset("ml-100k")
    assert data.files == ML100K_FILES
    assert data.sha256 == ML100K_SHA256
    assert data.card()["sha256"] == ML100K_SHA256 and "options" not in data.card()


def test_tiny_csv_sha256_is_pinned():
    data = load_dataset("csv", TINY)
    assert data.files == TINY_FILES
    assert data.sha256 == TINY_SHA256
    assert data.name == "csv"
