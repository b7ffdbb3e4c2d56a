"""GET /openapi.json (a valid OpenAPI 3.1 document naming every route) and GET /docs (Swagger UI
served from this server's own static files)."""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from g4fsite.asgi_routes import http_routes

# Served, but not API: the admin site (HTML forms) and the description itself.
UNDOCUMENTED = ("/admin/", "/openapi.json", "/docs")


def openapi_path(regex: str) -> str:
    """`^api/(?P<provider>[^/]+)/models/?$` -> `/api/{provider}/models`."""
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", regex.lstrip("^").rstrip("$").replace("\\Z", ""))
    return "/" + re.sub(r"/\?$", "", path).replace("\\.", ".")


def served_paths() -> set[str]:
    paths = set()
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            paths.add("/" + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            paths.add(openapi_path(pattern.pattern.regex.pattern))
    for route in http_routes(lambda scope, receive, send: None):
        if route.pattern.regex.pattern:  # the last one hands everything else to Django
            paths.add(openapi_path(route.pattern.regex.pattern))
    return paths


def test_the_document_is_valid_openapi_31_and_names_every_route(gateway):
    response = gateway.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/")
    document = response.json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    served = served_paths()
    assert {"/v1/chat/completions", "/v1/models/{model_name}", "/media/{filename}", "/"} <= served
    missing = sorted(path for path in served if path not in document["paths"] and path not in UNDOCUMENTED)
    assert missing == []
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert (
        "application/json" in chat["requestBody"]["content"]
        and "text/event-stream" in chat["responses"]["200"]["content"]
    )
    providers = document["paths"]["/v1/providers"]["get"]["responses"]["200"]["content"]["application/json"]
    assert providers["schema"]["properties"]["object"] == {"const": "list"}


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_docs_page_loads_its_assets_from_this_server(gateway):
    page = gateway.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    parser = _Assets()
    parser.feed(page.text)
    assets = [urljoin(gateway.url + "/docs", url) for url in parser.urls]
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets), assets
    assert all(urlsplit(url).netloc == urlsplit(gateway.url).netloc for url in assets), assets
    for url in assets:
        assert gateway.get(url[len(gateway.url) :]).status_code == 200, url
    assert "/openapi.json" in page.text
