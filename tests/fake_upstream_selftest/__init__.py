"""Self-tests of the fake upstream (tests/fake_upstream), with `requests` and the `openai` SDK."""
