"""Text from outside, made safe to store and log: one rule, used by models and errors alike."""

from __future__ import annotations


def scrub_text(value: str) -> str:
    """Lone UTF-16 surrogates, which JSON can carry ("\\ud83d", half an emoji) but UTF-8 cannot,
    replaced by U+FFFD: otherwise a record holding them could never be written, nor a log line."""
    if value.isascii():
        return value
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
