"""Validate response bodies against OpenAI's own schemas: ``assert_valid("CreateChatCompletionResponse", body)``.

The schemas come from ``openai-schemas.json``, extracted from OpenAI's openai-openapi.json by
``extract.py`` (which lists the schema names available). Validators are built once per schema name.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMAS_FILE = Path(__file__).with_name("openai-schemas.json")
_BASE_URI = "urn:openai-openapi:schemas"
_MAX_MESSAGE = 300


@cache
def _document_and_registry() -> tuple[dict[str, Any], Registry]:
    document = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    return document, Registry().with_resource(_BASE_URI, resource)


def schema_names() -> list[str]:
    """The component schemas available to :func:`assert_valid`."""
    return sorted(_document_and_registry()[0]["components"]["schemas"])


@cache
def validator_for(schema_name: str) -> Draft202012Validator:
    """A validator for ``#/components/schemas/<schema_name>``; KeyError if the schema was not extracted."""
    document, registry = _document_and_registry()
    if schema_name not in document["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {SCHEMAS_FILE.name}; add it to extract.ROOTS")
    schema = {"$ref": f"{_BASE_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry)


def assert_valid(schema_name: str, instance: Any) -> None:
    """Raise AssertionError listing every place where ``instance`` breaks schema ``schema_name``."""
    errors = sorted(validator_for(schema_name).iter_errors(instance), key=lambda error: error.json_path)
    if errors:
        details = "\n".join(f"- {_describe(error)}" for error in errors)
        raise AssertionError(f"not a valid {schema_name} ({len(errors)} error(s)):\n{details}")


def _describe(error: ValidationError) -> str:
    message = _shorten(error.message)
    if error.context:  # anyOf / oneOf: name the branch that came closest
        closest = best_match(error.context)
        message += f" (closest: {closest.json_path}: {_shorten(closest.message)})"
    return f"at {error.json_path}: {message}"


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
