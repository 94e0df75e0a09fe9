"""Names that become file and folder names: run ids, task names and interpreter slugs."""

from __future__ import annotations

import re

from recbench.errors import ConfigError

NAME_PATTERN = r"^[A-Za-z0-9._-]+$"
_NAME = re.compile(NAME_PATTERN)
_UNSAFE_SLUG_CHARS = re.compile(r"[^a-z0-9._-]+")


def name_problem(value: object) -> str | None:
    """Why ``value`` cannot be a file or folder name, or None when it can.

    A name matches ``[A-Za-z0-9._-]+`` (so no slash), contains no ``..`` and is not ``.``.
    """
    if not isinstance(value, str):
        return f"must be a string, got {type_name(value)}"
    if not _NAME.match(value):
        return f"{value!r} must match {NAME_PATTERN} (letters, digits, '.', '_', '-'; no slashes)"
    if ".." in value or value == ".":
        return f"{value!r} must not be '.' or contain '..'"
    return None


def slugify(text: str) -> str:
    """Lower-case ``text`` with every run of characters outside ``[a-z0-9._-]`` turned into one ``-``.

    Runs of dots collapse to one and leading/trailing ``.``/``-``/``_`` are stripped, so a slug is
    never ``.``, ``..`` or hidden. The result may be empty.
    """
    slug = _UNSAFE_SLUG_CHARS.sub("-", text.lower())
    slug = re.sub(r"\.{2,}", ".", slug)
    slug = re.sub(r"-{2,}", "-", slug)
    return slug.strip(".-_")


def interpreter_slug(results: dict) -> str:
    """The submissions folder of a run's interpreter: its ``label`` (else ``name``), slugified.

    A label that leaves nothing usable (``".."``, ``"///"``) is a :class:`ConfigError`.
    """
    interp = results.get("interpreter") if isinstance(results.get("interpreter"), dict) else {}
    source = interp.get("label") or interp.get("name")
    if not isinstance(source, str):
        raise ConfigError("interpreter.label: needs a label or name to name the submission folder")
    slug = slugify(source)
    if not slug or name_problem(slug):
        raise ConfigError(f"interpreter.label: {source!r} gives no usable folder name (slug {slug!r})")
    return slug


def type_name(value: object) -> str:
    """JSON's name for the type of ``value``: string, number, boolean, null, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
