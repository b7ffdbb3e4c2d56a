"""`manage.py apikey create NAME [limits] | update NAME [limits] | list | revoke NAME`: client keys.

Limits: --rpm N, --tpm N, --max-concurrent N, --budget USD, --budget-period day|month|total,
--models a,b, --providers p,q, --expires ISO-8601. `update` removes one with `--clear-LIMIT`
(e.g. `--clear-rpm`) or the value `none`.
"""

import argparse
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from catalogue import hooks, services
from catalogue.models import ApiKey

NONE = "none"


def _or_none(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        return None if text.strip().lower() == NONE else parse(text)

    convert.__name__ = parse.__name__
    return convert


def count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number (or 'none').")
    return int(text)


def usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"'{text}' is not an amount in USD (or 'none').") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not an amount in USD (or 'none').")
    return value


def names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def moment(text: str) -> Any:
    value = parse_datetime(text)
    if value is None and parse_date(text) is not None:
        value = parse_datetime(text + "T00:00:00")
    if value is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO-8601 date or time (or 'none').")
    return value


# flag -> (key setting, parser)
LIMIT_FLAGS = {
    "rpm": ("rpm", count),
    "tpm": ("tpm", count),
    "max-concurrent": ("max_concurrent", count),
    "budget": ("budget", usd),
    "budget-period": ("budget_period", str),
    "models": ("allowed_models", names),
    "providers": ("allowed_providers", names),
    "expires": ("expires_at", moment),
}


def add_limit_flags(parser: CommandParser, *, clearable: bool) -> None:
    for flag, (setting, parse) in LIMIT_FLAGS.items():
        if flag == "budget-period":
            parser.add_argument(
                "--budget-period", dest=setting, choices=ApiKey.BudgetPeriod.values, default=argparse.SUPPRESS
            )
            continue
        converter = _or_none(parse) if clearable else parse
        parser.add_argument(f"--{flag}", dest=setting, type=converter, default=argparse.SUPPRESS)
        if clearable:
            parser.add_argument(f"--clear-{flag}", dest=f"clear_{setting}", action="store_true")


def key_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The settings the command line gives: flags given (`none` as None) and `--clear-X` as None."""
    settings = {}
    for setting, _ in LIMIT_FLAGS.values():
        if options.get(f"clear_{setting}"):
            settings[setting] = None
        elif setting in options:
            settings[setting] = options[setting]
    return settings


class Command(BaseCommand):
    help = "Create, update, list or revoke API keys. A new key is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a key and print it (shown only this once).")
        create.add_argument("name")
        add_limit_flags(create, clearable=False)
        update = sub.add_parser("update", help="Change a key's limits ('none' or --clear-LIMIT removes one).")
        update.add_argument("name")
        add_limit_flags(update, clearable=True)
        sub.add_parser("list", help="List keys: limits, spend this period, last use.")
        revoke = sub.add_parser("revoke", help="Revoke a key by name.")
        revoke.add_argument("name")

    def handle(self, *args, action: str, **options) -> None:
        try:
            if action == "create":
                key, plain = services.api_key_create(name=options["name"], **key_settings(options))
                self.stdout.write(f"Created key '{key.name}'{_limits_note(key)}. Store it now: it is not shown again.")
                self.stdout.write(plain)
            elif action == "update":
                key = services.api_key_update(name=options["name"], **key_settings(options))
                self.stdout.write(f"Updated key '{key.name}': {limits_text(key)}.")
            elif action == "revoke":
                key = services.api_key_revoke(name=options["name"])
                self.stdout.write(f"Revoked key '{key.name}' ({key.prefix}...).")
            else:
                self._list()
        except services.CatalogueError as exc:
            raise CommandError(str(exc)) from exc

    def _list(self) -> None:
        keys = ApiKey.objects.all()
        if not keys:
            self.stdout.write("No keys.")
            return
        self.stdout.write(f"{'NAME':20} {'PREFIX':16} {'LAST USED':19}  {'STATUS':18} {'SPENT':>10}  LIMITS")
        for key in keys:
            last = key.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if key.last_used_at else "never"
            status = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            spend = hooks.key_spend(key)
            spent = "-" if spend is None else f"${spend:.4f}"
            self.stdout.write(
                f"{key.name:20} {key.prefix + '...':16} {last:19}  {status:18} {spent:>10}  {limits_text(key)}"
            )


def limits_text(key: ApiKey) -> str:
    """A key's limits in one line, e.g. `rpm 50, budget $10/month, models gpt-4o-mini`."""
    parts = []
    for label, value in (("rpm", key.rpm), ("tpm", key.tpm), ("concurrent", key.max_concurrent)):
        if value is not None:
            parts.append(f"{label} {value}")
    if key.budget is not None:
        parts.append(f"budget ${key.budget.normalize():f}/{key.budget_period}")
    if key.allowed_models:
        parts.append("models " + ",".join(key.allowed_models))
    if key.allowed_providers:
        parts.append("providers " + ",".join(key.allowed_providers))
    if key.expires_at is not None:
        parts.append(f"expires {key.expires_at:%Y-%m-%d %H:%M}")
    return ", ".join(parts) or "no limits"


def _limits_note(key: ApiKey) -> str:
    text = limits_text(key)
    return "" if text == "no limits" else f" ({text})"
