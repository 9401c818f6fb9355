"""`make schedule`'s check of CRON_TIME: what Debian's cron accepts, refused otherwise before an entry is
printed or installed (cron itself drops a bad line with a word in syslog, and the retrain never runs).

Run by make with the system's Python before the project is installed, so it uses the standard library only:
`python3 src/crack_pipeline/cron_time.py '<CRON_TIME>'` exits 1 with the reason on stderr."""

from __future__ import annotations

import sys

AT_WORDS = ("@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# Each field: its name, its numbers, and the names cron takes for them (their first number's).
FIELDS = (
    ("minute", 0, 59, (), 0),
    ("hour", 0, 23, (), 0),
    ("day of month", 1, 31, (), 0),
    ("month", 1, 12, MONTHS, 1),
    ("weekday", 0, 7, WEEKDAYS, 0),  # 0 and 7 are Sunday
)
USAGE = "cron's five fields (minute hour day month weekday, e.g. '30 3 * * 1') or one of its @ words (@daily)"


def cron_time_problem(cron_time: str) -> str | None:
    """Why cron would refuse `cron_time` (or misread it: a field short, the command began at its '* cd');
    None when it takes it. Each field is `*`, a number in the field's range, or (month, weekday) a name's
    first three letters, in lists (`1,15`), ranges (`mon-fri`) and steps (`*/15`, `0-30/10`)."""
    fields = cron_time.split()
    if len(fields) == 1 and fields[0] in AT_WORDS:
        return None
    if len(fields) != 5:
        return f"CRON_TIME must be {USAGE}, not '{cron_time}'"
    for text, field in zip(fields, FIELDS, strict=True):
        if (problem := _field_problem(text, *field)) is not None:
            return f"CRON_TIME must be {USAGE}, not '{cron_time}': {problem}"
    return None


def _field_problem(
    text: str, name: str, low: int, high: int, names: tuple[str, ...], first: int
) -> str | None:
    """What cron refuses in the field `name`'s `text` (numbers `low`-`high`; `names` count from `first`)."""
    for item in text.split(","):
        body, slash, step = item.partition("/")
        if slash and not (step.isascii() and step.isdigit() and int(step) >= 1):
            return f"{item!r}: the step {step!r} is no whole number of at least 1"
        if body == "*":
            continue
        start, dash, end = body.partition("-")
        if slash and not dash:
            return f"{item!r}: a step follows * or a range (cron takes '{body}-{high}/{step}')"
        bounds = [start, end] if dash else [start]
        values = [_value(bound, low, high, names, first) for bound in bounds]
        for bound, value in zip(bounds, values, strict=True):
            if value is None:
                named = f" or {names[0]}-{names[-1]}" if names else ""
                return f"{bound!r} is no {name} ({low}-{high}{named})"
        if dash and values[0] > values[1]:
            return f"the {name} range {body!r} runs downwards"
    return None


def _value(text: str, low: int, high: int, names: tuple[str, ...], first: int) -> int | None:
    """The number `text` stands for in a field of `low`-`high` (a name's too), or None."""
    if text.isascii() and text.isdigit():
        return int(text) if low <= int(text) <= high else None
    if text.lower() in names:
        return names.index(text.lower()) + first
    return None


if __name__ == "__main__":
    if (refusal := cron_time_problem(" ".join(sys.argv[1:]))) is not None:
        print(refusal, file=sys.stderr)
        sys.exit(1)
