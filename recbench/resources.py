"""Files shipped inside the recbench package (task YAMLs, leaderboard templates, the pretrained layer).

They are package data, found through :mod:`importlib.resources`, so an installed wheel reads them
from site-packages exactly as a checkout reads them from its ``recbench/`` folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from recbench.errors import RecbenchError


def package_path(*parts: str) -> Path:
    """``recbench/<parts...>`` inside the installed package, as a path on disk."""
    target = files("recbench")
    for part in parts:
        target = target / part
    if not isinstance(target, Path):  # e.g. imported from a zip file: jinja2 and the caches need real folders
        raise RecbenchError(
            f"recbench's package data ({'/'.join(parts)}) is not on disk; install recbench unpacked"
        )
    return target
