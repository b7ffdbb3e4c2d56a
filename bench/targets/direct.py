"""Straight to the fake upstream: the physical limit of this machine and load generator."""

from __future__ import annotations

from dataclasses import dataclass

from bench.loadgen import Target
from bench.targets import Server, upstream_base


@dataclass
class Direct(Server):
    name: str = "direct"
    label: str = "direct (fake upstream)"

    def start(self, procs, upstream_port: int, cores) -> None:
        self.port = upstream_port  # nothing to start; the upstream's process is measured separately

    def target(self, flavour: str) -> Target:
        return Target(upstream_base(self.port, flavour) + "/chat/completions")
