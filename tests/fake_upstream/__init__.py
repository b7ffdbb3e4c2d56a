"""A fake upstream AI provider for end-to-end tests and benchmarks: a real HTTP server on loopback.

    from tests.fake_upstream import FakeUpstream
    fake = FakeUpstream().start()                  # 127.0.0.1, a free port, ready on return
    fake.provider_url("alpha")                     # "http://127.0.0.1:PORT/alpha/v1" (OpenAI base URL)
    fake.set_fault("alpha", "429", retry_after=7)  # every request to alpha fails so; None clears
    fake.set_fault("alpha", "500", times=1)        # only the next request fails
    fake.set_option("alpha", chunks=20, delay=0.0, chunk_delay=0.0, content=None, models=[...])
    fake.requests, fake.requests_for("alpha")      # RecordedRequest(provider, method, path, headers, json,
                                                   #                 body, query, form)
    fake.reset(); fake.stop()

A request also picks a fault by its model name (``gpt-fault-500``) or the header ``x-fake-fault: <mode>``
(``slow; delay=0.2``). Modes: 400 401 403 404 429 500 502 503, slow, timeout, hang, cut, malformed, empty,
bomb (a gzip answer inflating to 16 MB);
see ``faults.py``. Protocols: ``openai_protocol.py``, ``anthropic_protocol.py``
(``provider_url(name, "anthropic")``) and ``gemini_protocol.py`` (``provider_url(name, "gemini")``);
``app.py`` says how to add one. Pytest fixtures are in ``fixtures.py``;
``python -m tests.fake_upstream --port 9100`` serves it standalone.

Modes oddchoices, odddelta and oddcontent answer OpenAI JSON of the wrong shape (``shapes.py``).
"""

from .app import PROTOCOLS
from .faults import FAULT_MODES
from .server import FakeUpstream
from .state import DEFAULT_OPTIONS, RecordedRequest

__all__ = ["DEFAULT_OPTIONS", "FAULT_MODES", "PROTOCOLS", "FakeUpstream", "RecordedRequest"]
