"""The fake Cloudflare API as a package: `from fake_cf import
FakeCloudflare` works with tests/ on PYTHONPATH.  See README.md."""

from .fake_cf import (
    FakeCloudflare, ScenarioError, creem_signature, load_scenario, main,
    stripe_signature)

__all__ = ["FakeCloudflare", "ScenarioError", "creem_signature",
           "load_scenario", "main", "stripe_signature"]
