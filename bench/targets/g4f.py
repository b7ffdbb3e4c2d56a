"""g4f API (placeholder until wired)."""
from dataclasses import dataclass
from bench.targets import Server, Unavailable

@dataclass
class G4F(Server):
    name: str = "g4f"
    label: str = "g4f API"
    def start(self, procs, upstream_port, cores):
        raise Unavailable("not wired yet")
