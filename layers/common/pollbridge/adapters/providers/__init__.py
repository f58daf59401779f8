"""Third-party job services behind the Provider port, one module each (see registry.py and
docs/providers.md): `http` speaks the reference vendor API, `transcribe` and `rekognition-text` wrap
Amazon Transcribe and Amazon Rekognition Video text detection."""

from pollbridge.adapters.providers.http import HttpJobProvider

__all__ = ["HttpJobProvider"]
