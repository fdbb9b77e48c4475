"""Cron expressions read in a time zone: checking them and computing their firing times.

The lowest domain layer holds these so that every scheduler (pipeline schedules, monitors,
automation triggers) reads cron the same way. Errors are :class:`~loopline.errors.InvalidInput`
with ``details["field"]`` naming ``cron`` or ``timezone`` (servers answer 422).

Example:
    >>> next_firings("*/15 * * * *", "UTC", datetime(2026, 1, 1, 0, 7, tzinfo=UTC))
    [datetime.datetime(2026, 1, 1, 0, 15, tzinfo=datetime.timezone.utc)]
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from loopline.errors import InvalidInput, did_you_mean

__all__ = [
    "check_cron",
    "check_timezone",
    "next_firings",
    "latest_due",
    "count_between",
    "MAX_MISSED_COUNTED",
]

MAX_MISSED_COUNTED = 10_000


def check_cron(expression: str) -> str:
    """``expression`` if it is a five-field cron expression (``"30 2 * * 1-5"``) or an alias
    (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``).

    Raises:
        InvalidInput: it is not (``details["field"] == "cron"``).
    """
    from croniter import croniter

    text = expression.strip() if isinstance(expression, str) else ""
    fields = text.split()
    aliased = len(fields) == 1 and text.startswith("@")
    if not (len(fields) == 5 or aliased) or not croniter.is_valid(text):
        raise InvalidInput(
            f"cron: {expression!r} is not a cron expression. Give five fields, minute hour "
            "day-of-month month day-of-week (e.g. '30 2 * * 1-5' is 02:30 on weekdays), or "
            "@hourly, @daily, @weekly, @monthly, @yearly.",
            details={"field": "cron"},
        )
    return text


def check_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``"Europe/Paris"``, ``"UTC"``).

    Raises:
        InvalidInput: no such time zone (``details["field"] == "timezone"``), with a
            suggestion.
    """
    problem = ""
    if isinstance(name, str) and name and "\x00" not in name and len(name) <= 64:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            problem = f" ({exc})" if not isinstance(exc, ZoneInfoNotFoundError) else ""
    hint = did_you_mean(str(name), available_timezones()) if isinstance(name, str) else ""
    raise InvalidInput(
        f"timezone: {name!r} is not an IANA time zone such as 'UTC' or 'Europe/Paris'"
        f"{problem}.{hint}",
        details={"field": "timezone"},
    )


def next_firings(cron: str, timezone: str, after: datetime, count: int = 1) -> list[datetime]:
    """The ``count`` firing times of ``cron`` read in ``timezone`` strictly after ``after``,
    as aware UTC datetimes (daylight-saving gaps and repeats are croniter's reading).

    Example:
        >>> next_firings("0 3 * * *", "Europe/Paris", datetime(2026, 1, 1, tzinfo=UTC), 2)
        [datetime(2026, 1, 1, 2, 0, tzinfo=UTC), datetime(2026, 1, 2, 2, 0, tzinfo=UTC)]
    """
    from croniter import croniter

    if after.tzinfo is None:
        raise InvalidInput("next_firings needs an aware datetime (e.g. tzinfo=UTC).")
    it = croniter(check_cron(cron), after.astimezone(check_timezone(timezone)))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]


def latest_due(cron: str, timezone: str, now: datetime) -> datetime:
    """The last firing time at or before ``now``."""
    from croniter import croniter

    # croniter's get_prev is strictly before its start: start a second later to include now.
    start = (now + timedelta(seconds=1)).astimezone(check_timezone(timezone))
    return croniter(cron, start).get_prev(datetime).astimezone(UTC)  # type: ignore[no-any-return]


def count_between(cron: str, timezone: str, after: datetime, until: datetime) -> int:
    """How many firings fall strictly after ``after`` and strictly before ``until`` (capped
    at :data:`MAX_MISSED_COUNTED`)."""
    from croniter import croniter

    it = croniter(cron, after.astimezone(check_timezone(timezone)))
    n = 0
    while n < MAX_MISSED_COUNTED and it.get_next(datetime).astimezone(UTC) < until:
        n += 1
    return n
