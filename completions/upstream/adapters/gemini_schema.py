"""JSON Schema reduced to the OpenAPI 3.0 subset that Gemini's `Schema` accepts (tool parameters and
`response_format` json_schema are JSON Schema; Gemini rejects keywords outside its subset)."""

from typing import Any

# The OpenAPI 3.0 subset of JSON Schema that Gemini's `Schema` accepts.
SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "items",
        "minItems",
        "maxItems",
        "properties",
        "required",
        "anyOf",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "propertyOrdering",
        "default",
    }
)


def gemini_schema(schema: Any, definitions: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """A JSON Schema reduced to Gemini's subset: local `$ref`s inlined, `const` as `enum`, "null" in
    a type list or enum as `nullable`, unsupported keywords (additionalProperties, $schema...) dropped."""
    if not isinstance(schema, dict) or depth > 32:
        return {}
    if definitions is None:
        definitions = {}
        for key in ("definitions", "$defs"):  # a client's schema: either may be of any JSON type
            if isinstance(schema.get(key), dict):
                definitions.update(schema[key])
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        return gemini_schema(definitions.get(ref.rsplit("/", 1)[-1], {}), definitions, depth + 1)
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            types = [kind for kind in value if kind != "null"]
            result["type"] = types[0] if types else "string"
            if len(types) < len(value):
                result["nullable"] = True
        elif key == "const":
            result["enum"] = [value]
        elif key == "enum" and isinstance(value, list):
            result["enum"] = [option for option in value if option is not None]
            if len(result["enum"]) < len(value):
                result["nullable"] = True
        elif key == "properties" and isinstance(value, dict):
            result[key] = {name: gemini_schema(sub, definitions, depth + 1) for name, sub in value.items()}
        elif key == "items":
            result[key] = gemini_schema(value, definitions, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            result["anyOf"] = [gemini_schema(sub, definitions, depth + 1) for sub in value]
        elif key in SCHEMA_KEYS:
            result[key] = value
    return result
