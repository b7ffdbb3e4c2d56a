"""The `g4f` console script: `g4f api [flags]` serves the gateway (the same as `manage.py api`).

    g4f api [--host H] [--port P] [--debug] [--gui] [--g4f-api-key KEY] [--provider NAME]
            [--model NAME] [--image-model NAME] [--proxy URL] [--timeout SECONDS]
            [--ignored-providers A B ...] [--workers N] [--graceful-timeout SECONDS]
            [--cors-origin ORIGIN ...] [--no-auth-on-network]

Flags win over the `G4F_*` environment variables, which win over the defaults.
"""

import argparse
import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from g4fsite.api import DEFAULT_HOST, DEFAULT_PORT, AppConfig, run_api


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    """The `api` flags, shared by `g4f api` and `manage.py api`."""
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"Interface to bind (default {DEFAULT_HOST}; 0.0.0.0 exposes it)."
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"Port (default {DEFAULT_PORT}).")
    parser.add_argument("--bind", help="HOST:PORT, instead of --host and --port.")
    parser.add_argument("--debug", action="store_true", default=None, help="Log each request (never keys or cookies).")
    parser.add_argument("--gui", action="store_true", default=None, help="Serve the chat GUI at /chat/.")
    parser.add_argument("--demo", action="store_true", default=None, help="Mark the GUI as a public demo.")
    parser.add_argument("--g4f-api-key", dest="g4f_api_key", metavar="KEY", help="Master API key clients must send.")
    parser.add_argument("--provider", metavar="NAME", help="Provider for requests that name none.")
    parser.add_argument("--model", metavar="NAME", help="Model for requests that name none.")
    parser.add_argument(
        "--image-model", dest="image_model", metavar="NAME", help="Model for image requests that name none (flux)."
    )
    parser.add_argument("--proxy", metavar="URL", help="Outbound proxy for upstream calls (http://host:port).")
    parser.add_argument(
        "--timeout", type=_seconds, metavar="SECONDS", help="Upstream timeout, overriding each provider's."
    )
    parser.add_argument(
        "--ignored-providers", dest="ignored_providers", nargs="*", metavar="NAME", help="Providers never routed to."
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="Serve with N uvicorn worker processes (default one, in this process).",
    )
    parser.add_argument(
        "--graceful-timeout",
        dest="graceful_timeout",
        type=_seconds,
        metavar="SECONDS",
        help="On SIGTERM, how long requests and streams in flight may take to finish (default 30).",
    )
    parser.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        metavar="ORIGIN",
        help="A web origin (https://app.example.com, or * for any) whose pages may call the API; repeatable. "
        "None by default.",
    )
    parser.add_argument(
        "--no-auth-on-network",
        dest="no_auth_on_network",
        action="store_true",
        default=None,
        help="Serve on a non-loopback address even with no API key (anyone reaching it can use it).",
    )


def run_from_options(options: dict[str, Any]) -> None:
    """Apply the parsed flags to `AppConfig` and serve."""
    AppConfig.set_config(
        g4f_api_key=options.get("g4f_api_key"),
        provider=options.get("provider"),
        model=options.get("model"),
        image_model=options.get("image_model"),
        proxy=options.get("proxy"),
        timeout=options.get("timeout"),
        ignored_providers=options.get("ignored_providers"),
        gui=options.get("gui"),
        demo=options.get("demo"),
        cors_origins=options.get("cors_origins"),
        graceful_timeout=options.get("graceful_timeout"),
    )
    run_api(
        host=options["host"],
        port=options["port"],
        bind=options.get("bind"),
        debug=options.get("debug"),
        workers=options.get("workers"),
        no_auth_on_network=options.get("no_auth_on_network"),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="g4f", description="The G4F gateway: an OpenAI-compatible AI gateway.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    api = commands.add_parser("api", help="Serve the OpenAI-compatible API (and, with --gui, the chat page).")
    add_api_arguments(api)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "api":
        parser.print_help()
        return 2
    try:
        run_from_options(vars(args))
    except KeyboardInterrupt:
        pass
    except ImproperlyConfigured as exc:  # a bad setting in the environment (G4F_PUBLIC_BASE_URL=ftp://...)
        print(f"g4f: configuration error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
