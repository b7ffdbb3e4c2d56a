"""Usage roll-ups: kept current as usage rows are written, and the reports read from them.

The usage writer (`completions.usage`) calls `usage_rollup_add(rows)` in the transaction that
inserts the raw rows, so a roll-up never counts a row that was not written, nor misses one. Each
roll-up row sums one hour (UTC) of one key, model, provider and endpoint; several processes add to
the same row with one atomic `INSERT ... ON CONFLICT DO UPDATE` (SQLite and PostgreSQL). Reports
(`GET /v1/usage`, the admin dashboard) read only roll-ups; `usage_prune` deletes raw rows past their
retention and leaves the roll-ups.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from catalogue.models import LATENCY_BUCKETS_MS, UsageRecord, UsageRollup

BUCKETS = [f"latency_b{i}" for i in range(len(LATENCY_BUCKETS_MS) + 1)]
GROUP_COLUMNS = ["date", "hour", "api_key_id", "model", "provider", "endpoint"]
SUM_COLUMNS = ["requests", "errors", "prompt_tokens", "completion_tokens", "cost", "latency_ms_sum", *BUCKETS]
TOTALS = ["requests", "errors", "prompt_tokens", "completion_tokens", "cost", "latency_ms_sum"]


def latency_bucket(latency_ms: float) -> int:
    """The index of the bucket `latency_ms` falls in."""
    for index, bound in enumerate(LATENCY_BUCKETS_MS):
        if latency_ms <= bound:
            return index
    return len(LATENCY_BUCKETS_MS)


def latency_percentile(counts: list[int], q: float) -> float | None:
    """The `q` quantile (0..1) in ms, interpolated inside its bucket; None without requests. A quantile
    in the open last bucket is reported as that bucket's lower bound."""
    total = sum(counts)
    if not total:
        return None
    target, seen = q * total, 0
    for index, count in enumerate(counts):
        if count and seen + count >= target:
            low = LATENCY_BUCKETS_MS[index - 1] if index else 0
            if index == len(LATENCY_BUCKETS_MS):
                return float(low)
            high = LATENCY_BUCKETS_MS[index]
            return low + (high - low) * (target - seen) / count
        seen += count
    return float(LATENCY_BUCKETS_MS[-1])


def _rollup_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(UsageRollup._meta.db_table)
    columns = [*GROUP_COLUMNS, *SUM_COLUMNS]
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in SUM_COLUMNS)
    return (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in GROUP_COLUMNS)}) DO UPDATE SET {updates}"
    )


def usage_rollup_add(rows: Iterable[dict[str, Any]]) -> int:
    """Add usage rows (UsageRecord field attname -> value) to their hourly roll-ups; return how many
    roll-up rows were touched. Run it in the transaction that inserts the rows."""
    groups: dict[tuple, list] = {}
    for row in rows:
        at = timezone.localtime(row["created_at"], dt.UTC)
        key = (
            at.date(),
            at.hour,
            row.get("api_key_id") or 0,
            row.get("model") or "",
            row.get("provider") or "",
            row.get("endpoint") or "",
        )
        sums = groups.get(key)
        if sums is None:
            sums = groups[key] = [0] * len(SUM_COLUMNS)
        latency = float(row.get("latency_ms") or 0)
        sums[0] += 1
        sums[1] += 0 if row.get("success") else 1
        sums[2] += row.get("prompt_tokens") or 0
        sums[3] += row.get("completion_tokens") or 0
        sums[4] += float(row.get("cost") or 0)
        sums[5] += latency
        sums[6 + latency_bucket(latency)] += 1
    if not groups:
        return 0
    date_field = UsageRollup._meta.get_field("date")
    params = [
        [date_field.get_db_prep_save(key[0], connection), *key[1:], *sums] for key, sums in sorted(groups.items())
    ]
    with connection.cursor() as cursor:
        cursor.executemany(_rollup_sql(), params)
    return len(params)


def usage_rollup_rebuild(*, since: dt.date | None = None) -> int:
    """Recompute the roll-ups from the raw rows still kept (from `since`, else all); return how many
    raw rows were counted. For repairs: roll-ups of days whose raw rows were pruned are left alone."""
    records = UsageRecord.objects.all()
    if since is not None:
        records = records.filter(created_at__gte=dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC))
    first = records.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return 0
    first = timezone.localtime(first, dt.UTC)
    stale = UsageRollup.objects.filter(Q(date__gt=first.date()) | Q(date=first.date(), hour__gte=first.hour))
    start = dt.datetime.combine(first.date(), dt.time(first.hour), tzinfo=dt.UTC)
    stale.delete()
    count = 0
    fields = ["created_at", "api_key_id", "model", "provider", "endpoint", "success"]
    batch: list[dict[str, Any]] = []
    for row in UsageRecord.objects.filter(created_at__gte=start).values(*fields, *TOTALS[2:5], "latency_ms"):
        batch.append(row)
        if len(batch) >= 1000:
            count += len(batch)
            usage_rollup_add(batch)
            batch = []
    usage_rollup_add(batch)
    return count + len(batch)


def usage_prune(*, days: float, now: dt.datetime | None = None) -> int:
    """Delete raw usage rows older than `days`; roll-ups stay. Return how many rows were deleted."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    deleted, _ = UsageRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- reading ----------------------------------------------------------------------------------


def _summed(queryset: QuerySet, group: list[str]) -> list[dict[str, Any]]:
    """Roll-ups summed by `group` columns, with p50/p95 latency and without the bucket columns."""
    sums = {name: Sum(name) for name in [*TOTALS, *BUCKETS]}
    found = queryset.values(*group).annotate(**sums).order_by(*group) if group else [queryset.aggregate(**sums)]
    rows = []
    for row in found:
        counts = [row.pop(name) or 0 for name in BUCKETS]
        for name in TOTALS:
            row[name] = row[name] or 0
        row["p50_ms"] = latency_percentile(counts, 0.50)
        row["p95_ms"] = latency_percentile(counts, 0.95)
        rows.append(row)
    return rows


def usage_report(
    *, start: dt.date, end: dt.date, group_by: list[str], api_key_id: int | None = None, by_key: bool = False
) -> list[dict[str, Any]]:
    """`GET /v1/usage`: usage from `start` to `end` (inclusive, UTC days) summed by `group_by` (a list
    of `day`, `model`, `provider`), of one key (`api_key_id`; 0 the master key) or of every key;
    `by_key` splits the rows by key too. Each row has `date`, `model`, `provider` (None when not
    grouped by it), `api_key_id` (with `by_key`), the sums, and p50/p95 latency."""
    queryset = UsageRollup.objects.filter(date__gte=start, date__lte=end)
    if api_key_id is not None:
        queryset = queryset.filter(api_key_id=api_key_id)
    columns = {"day": "date", "model": "model", "provider": "provider"}
    group = [columns[name] for name in group_by] + (["api_key_id"] if by_key else [])
    rows = _summed(queryset, group)
    for row in rows:
        for name in ("date", "model", "provider"):
            row.setdefault(name, None)
    return rows


def usage_dashboard(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The admin dashboard's figures: for the last 24 hours (by hour) and the last 30 days (by day),
    the totals, the series, and the breakdowns by provider, model and key."""
    now = timezone.localtime(now or timezone.now(), dt.UTC)
    since = now - dt.timedelta(hours=23)
    windows = {
        "day": (
            UsageRollup.objects.filter(Q(date__gt=since.date()) | Q(date=since.date(), hour__gte=since.hour)),
            ["date", "hour"],
            [since + dt.timedelta(hours=h) for h in range(24)],
        ),
        "month": (
            UsageRollup.objects.filter(date__gte=(now - dt.timedelta(days=29)).date()),
            ["date"],
            [now - dt.timedelta(days=29 - d) for d in range(30)],
        ),
    }
    figures: dict[str, Any] = {}
    for name, (queryset, period, slots) in windows.items():
        by_period = {tuple(row[c] for c in period): row for row in _summed(queryset, period)}
        series = []
        for slot in slots:
            key = (slot.date(), slot.hour) if len(period) == 2 else (slot.date(),)
            row = by_period.get(key) or {n: 0 for n in TOTALS} | {"p50_ms": None, "p95_ms": None}
            label = f"{slot:%H}:00" if len(period) == 2 else f"{slot:%m-%d}"
            series.append({"label": label, **{k: v for k, v in row.items() if k not in period}})
        totals = _summed(queryset, [])[0]
        figures[name] = {
            "totals": totals if totals["requests"] else None,
            "series": series,
            "by_provider": _summed(queryset, ["provider"]),
            "by_model": _summed(queryset, ["model"]),
            "by_key": _summed(queryset, ["api_key_id"]),
        }
    return figures


def key_recent_usage(*, api_key_id: int, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """One key's last 24 hours (the current UTC hour and the 23 before it) from the roll-ups, summed
    by model and provider, busiest first."""
    now = timezone.localtime(now or timezone.now(), dt.UTC)
    since = now - dt.timedelta(hours=23)
    queryset = UsageRollup.objects.filter(
        Q(date__gt=since.date()) | Q(date=since.date(), hour__gte=since.hour), api_key_id=api_key_id
    )
    return sorted(_summed(queryset, ["model", "provider"]), key=lambda row: (-row["requests"], row["model"]))


def key_recent_requests(*, api_key_id: int, limit: int = 20) -> list[UsageRecord]:
    """One key's last `limit` raw usage rows, newest first (the key page's list; the rows the
    `api_key` index finds, not a scan)."""
    return list(UsageRecord.objects.filter(api_key_id=api_key_id).order_by("-created_at")[:limit])
