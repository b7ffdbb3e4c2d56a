"""Contract: every client-visible error is a class in `completions.errors`, declared once, and each
renders OpenAI's `ErrorResponse` with its status (and `Retry-After` where it applies)."""

import ast
import inspect
from pathlib import Path

import orjson
import pytest

import completions
from completions import errors
from tests.openapi import assert_valid


def all_error_classes() -> list[type[errors.GatewayError]]:
    found, pending = [], [errors.GatewayError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)


ERROR_CLASSES = all_error_classes()


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_class_renders_the_openai_error_shape(cls):
    exc = cls(param="field", retry_after=3 if issubclass(cls, (errors.RateLimited, errors.ConversationBusy)) else None)
    body = orjson.loads(errors.error_json(exc))
    assert_valid("ErrorResponse", body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"] == cls.default_message and body["error"]["message"]
    assert body["error"]["code"] == cls.code and body["error"]["type"] == cls.type
    assert body["error"]["param"] == "field"
    assert 400 <= cls.status_code <= 599
    headers = dict(errors.error_headers(exc))
    assert headers[b"content-type"] == b"application/json"
    if exc.retry_after is not None:
        assert headers[b"retry-after"] == b"3"
    else:
        assert b"retry-after" not in headers


def test_rate_limits_and_busy_conversations_carry_retry_after():
    for cls in (errors.RateLimited, errors.ConversationBusy):
        assert dict(errors.error_headers(cls(retry_after=0.2)))[b"retry-after"] == b"1"


def test_each_code_is_declared_by_exactly_one_class():
    owners: dict[str, list[str]] = {}
    for cls in ERROR_CLASSES:
        if "code" in vars(cls):
            owners.setdefault(cls.code, []).append(cls.__name__)
    assert {code: names for code, names in owners.items() if len(names) > 1} == {}


def test_every_class_is_drawn_in_the_module_docstring():
    missing = [cls.__name__ for cls in ERROR_CLASSES if f"{cls.__name__} (" not in errors.__doc__]
    assert missing == []


def test_error_classes_live_in_the_errors_module_only():
    assert {cls.__module__ for cls in ERROR_CLASSES} == {"completions.errors"}


def test_no_code_outside_the_errors_module_sets_an_error_code():
    """Codes are class attributes: no call passes `code=`, and no class elsewhere sets `code`."""
    root = Path(inspect.getfile(completions)).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "errors.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and any(keyword.arg == "code" for keyword in node.keywords):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "code" and isinstance(node.ctx, ast.Store):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
