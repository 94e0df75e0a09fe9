"""Names that become file and folder names (run ids, task names, interpreter slugs), and text that is
safe to print (control characters escaped)."""

from __future__ import annotations

import re
import unicodedata

from recbench.errors import ConfigError

NAME_PATTERN = r"[A-Za-z0-9._-]+"
_NAME = re.compile(NAME_PATTERN)
_UNSAFE_SLUG_CHARS = re.compile(r"[^a-z0-9._-]+")
# Longest name a results file may hold: a name becomes a file name (``runs/<run-id>.html`` on the
# site), and file names stop at 255 bytes; this leaves room for any suffix.
MAX_FILE_NAME_CHARS = 200
# Longest name the leaderboard accepts (run ids, task names, interpreter names, slugs).
MAX_NAME_CHARS = 100
# Longest value quoted in a message: a submission's text is shown cut, never whole.
MAX_SHOWN_CHARS = 60


def name_problem(value: object, max_chars: int = MAX_FILE_NAME_CHARS) -> str | None:
    """Why ``value`` cannot be a file or folder name, or None when it can.

    A name is, whole (a trailing newline is not allowed), one or more of ``[A-Za-z0-9._-]`` (so no
    slash), at most ``max_chars`` long, contains no ``..`` and is not ``.``.
    """
    if not isinstance(value, str):
        return f"must be a string, got {type_name(value)}"
    if not _NAME.fullmatch(value):
        return f"{shown(value)} must match {NAME_PATTERN} (letters, digits, '.', '_', '-'; no slashes)"
    if len(value) > max_chars:
        return f"{shown(value)} is {len(value)} characters long; at most {max_chars} are allowed"
    if ".." in value or value == ".":
        return f"{shown(value)} must not be '.' or contain '..'"
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


def interpreter_slug(results: dict, max_chars: int = MAX_NAME_CHARS) -> str:
    """The submissions folder of a run's interpreter: its ``label`` (else ``name``), slugified.

    A label that leaves nothing usable (``".."``, ``"///"``) or too long a slug is a
    :class:`ConfigError`.
    """
    interp = results.get("interpreter") if isinstance(results.get("interpreter"), dict) else {}
    source = interp.get("label") or interp.get("name")
    if not isinstance(source, str):
        raise ConfigError("interpreter.label: needs a label or name to name the submission folder")
    slug = slugify(source)
    if not slug or name_problem(slug, max_chars):
        raise ConfigError(
            f"interpreter.label: {shown(source)} gives no usable folder name (slug {shown(slug)}"
            + (f", {len(slug)} characters; at most {max_chars})" if len(slug) > max_chars else ")")
        )
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


# Characters never printed raw: controls (C0, DEL, C1), format characters (bidi overrides, zero
# width), line and paragraph separators, surrogates and unassigned code points.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str) -> str:
    """``text`` with every control or invisible formatting character escaped (``\\n``, ``\\x1b``,
    ``\\u202e``), so a message can never move the cursor, recolour a terminal or reorder a line."""
    if text.isprintable() and text.isascii():
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) not in _UNPRINTABLE:
            out.append(ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def shown(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters (with ``…``) and made :func:`printable`."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return printable(text)
