"""A fake GitHub REST server, backed by a real bare git repo, for driving PyGithub in tests."""

from __future__ import annotations

from fakegithub.core import Settings
from fakegithub.faults import FaultRule, Faults
from fakegithub.ratelimit import RequestRecord, Violation
from fakegithub.server import FakeGitHub

__all__ = ["FakeGitHub", "FaultRule", "Faults", "RequestRecord", "Settings", "Violation"]
