"""Hypothesis profiles: `ci` (the default, a few hundred examples per test) and `long`."""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=200, derandomize=True)
settings.register_profile("long", max_examples=5_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
