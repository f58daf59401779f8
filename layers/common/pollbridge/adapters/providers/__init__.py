"""Third-party job services behind the Provider port, one module each (see registry.py and
docs/providers.md): `http` speaks the reference vendor API, `transcribe` and `rekognition-text` wrap
Amazon Transcribe and Amazon Rekognition Video text detection."""

from typing import Any

__all__ = ["HttpJobProvider"]


def __getattr__(name: str) -> Any:
    """`HttpJobProvider` on first use: importing the package (the registry does) loads no provider."""
    if name == "HttpJobProvider":
        from pollbridge.adapters.providers.http import HttpJobProvider

        return HttpJobProvider
    raise AttributeError(name)
