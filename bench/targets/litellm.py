"""LiteLLM proxy (placeholder until wired)."""
from dataclasses import dataclass
from bench.targets import Server, Unavailable

@dataclass
class LiteLLM(Server):
    name: str = "litellm"
    label: str = "LiteLLM proxy"
    def start(self, procs, upstream_port, cores):
        raise Unavailable("not wired yet")
