"""Anthropic's Messages API for its clients (the anthropic SDKs, Claude Code): `request.py` parses and
translates, `render.py` shapes answers, stream events and errors, `consumer.py` runs them on the lifecycle."""
