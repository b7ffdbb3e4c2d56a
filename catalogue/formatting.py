"""Numbers as the admin shows them: `20 ms`, `98.5%`, `$0.0123`, `12,345`; "-" for no value."""

NONE = "-"


def format_ms(ms: float | None) -> str:
    """`20 ms` below ten seconds, `12.5 s` above."""
    if ms is None:
        return NONE
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def format_percent(rate: float | None) -> str:
    """A rate 0..1 with one decimal: `98.5%` (`100%` and `0%` without one)."""
    if rate is None:
        return NONE
    text = f"{rate * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def format_usd(amount: float | None) -> str:
    """`$12.34` from a dollar up, `$0.0123` below (four decimals), `$0` for nothing."""
    if amount is None:
        return NONE
    if amount == 0:
        return "$0"
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


def format_count(count: int | None) -> str:
    return NONE if count is None else f"{count:,}"


def format_seconds(seconds: float) -> str:
    """A remaining time: `45 s`, `12 min`, `3 h`."""
    if seconds < 120:
        return f"{max(0, round(seconds))} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"
