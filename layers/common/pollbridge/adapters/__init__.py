"""Implementations of the ports: AWS services and third-party vendors. Adapters never decide."""
