"""Fixtures of the transport tests (`tests/completions/loopback.py`)."""

from tests.completions.loopback import transport_class  # noqa: F401
