"""The OpenAPI 3.1 description served at `GET /openapi.json` (Swagger UI at `GET /docs`).

drf-spectacular generates it from two URL configurations: `g4fsite.urls` (the DRF views) and
`completions.openapi.routes` (the Channels consumers of `g4fsite.asgi_routes` and the plain Django
views, each described once by a documentation-only view). `schemas` holds the response shapes.
"""
