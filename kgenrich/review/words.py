"""Times and decisions in a curator's words: "accepted by alice 3 minutes ago (19:37 UTC)",
never a raw xsd:dateTime."""

from __future__ import annotations

from datetime import UTC, datetime

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_time(text: str) -> datetime | None:
    """An xsd:dateTime as an aware datetime (UTC when it has no zone), or None."""
    if not text:
        return None
    value = str(text).strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def when_words(text: str, now: datetime | None = None) -> str:
    """'just now', '5 minutes ago (19:37 UTC)', 'today at 09:12 UTC', 'on 6 Dec 2026 at 19:37 UTC'."""
    when = parse_time(text)
    if when is None:
        return f"at {text}" if text else "at an unknown time"
    now = now or datetime.now(UTC)
    when = when.astimezone(UTC)
    clock = f"{when:%H:%M} UTC"
    seconds = (now - when).total_seconds()
    if -60 < seconds < 60:
        return "just now"
    if 0 < seconds < 3600:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago ({clock})"
    if when.date() == now.date():
        return f"today at {clock}"
    return f"on {when.day} {_MONTHS[when.month - 1]} {when.year} at {clock}"


def day(text: str) -> str:
    """The UTC day of an xsd:dateTime, YYYY-MM-DD ('' when unreadable)."""
    when = parse_time(text)
    return when.astimezone(UTC).strftime("%Y-%m-%d") if when else ""


def decision_words(decision: str, reviewer: str, time: str, value_label: str | None = None) -> str:
    """'corrected to siglo XX by alice 5 minutes ago (19:37 UTC)'."""
    what = {"accepted": "accepted", "rejected": "rejected", "corrected": "corrected",
            "undone": "taken back (undone)"}.get(decision, decision)
    if value_label and decision == "corrected":
        what += f" to {value_label}"
    elif value_label and decision == "accepted":
        what += f" as {value_label}"
    return f"{what} by {reviewer} {when_words(time)}"
