"""Third-party job services behind the Provider port. `http` speaks the reference vendor API."""

from pollbridge.adapters.providers.http import HttpJobProvider

__all__ = ["HttpJobProvider"]
