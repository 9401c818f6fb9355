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
# The most days each month has (February's in a leap year); February's in the other years.
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
FEBRUARY, COMMON_FEBRUARY_DAYS = 2, 28


def check_cron_time(cron_time: str) -> tuple[str | None, str | None]:
    """Why cron would refuse `cron_time` (or misread it: a field short, the command began at its '* cd'),
    else what a user may not mean in it (a day that occurs in leap years alone), read once: (refusal,
    warning), at most one of them not None. Each field is `*`, a number in the field's range, or (month,
    weekday) a name's first three letters, in lists (`1,15`), ranges (`mon-fri`) and steps (`*/15`,
    `0-30/10`)."""
    fields = cron_time.split()
    if len(fields) == 1 and fields[0] in AT_WORDS:
        return None, None
    if len(fields) != 5:
        return f"CRON_TIME must be {USAGE}, not '{cron_time}'", None
    for text, field in zip(fields, FIELDS, strict=True):
        if (problem := _field_problem(text, *field)) is not None:
            return f"CRON_TIME must be {USAGE}, not '{cron_time}': {problem}", None
    day, month, weekday = fields[2:]
    runs = _days_it_runs(fields)
    if runs == "never":
        return (
            f"CRON_TIME must name a day that occurs, not '{cron_time}': day of month '{day}' never falls in "
            f"month '{month}' ({_most_days(month)} days at most), and weekday '{weekday}' adds none: cron "
            "would never run it"
        ), None
    if runs == "leap years":
        return None, (
            f"CRON_TIME '{cron_time}' runs in leap years alone (day of month '{day}' falls in month "
            f"'{month}' on 29 February only): the retrain runs once in four years"
        )
    return None, None


def _days_it_runs(fields: list[str]) -> str:
    """'never', 'leap years' or 'every year': when cron's day of month and month `fields` meet. A weekday
    that does not begin with * is a day of its own (cron runs on either day field then), so 'every year'."""
    if not fields[4].startswith("*"):
        return "every year"
    days = _values(fields[2], *FIELDS[2][1:])
    months = _values(fields[3], *FIELDS[3][1:])
    if any(day <= MONTH_DAYS[month - 1] for day in days for month in months if month != FEBRUARY):
        return "every year"
    if FEBRUARY not in months or min(days) > MONTH_DAYS[FEBRUARY - 1]:
        return "never"
    return "every year" if min(days) <= COMMON_FEBRUARY_DAYS else "leap years"


def _most_days(month_text: str) -> int:
    """The most days a month of the (checked) month field `month_text` has."""
    return max(MONTH_DAYS[month - 1] for month in _values(month_text, *FIELDS[3][1:]))


def _values(text: str, low: int, high: int, names: tuple[str, ...], first: int) -> set[int]:
    """The numbers a checked field's `text` stands for: its lists, ranges and steps spelt out."""
    values = set()
    for item in text.split(","):
        body, _, step = item.partition("/")
        ends = body.split("-")
        bounds = [low, high] if body == "*" else [_value(bound, low, high, names, first) for bound in ends]
        values.update(range(bounds[0], bounds[-1] + 1, int(step or 1)))
    return values


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


def main(args: list[str]) -> int:
    """The script: a refusal on stderr and 1, or 0 (a warning on stderr first, if any)."""
    refusal, warning = check_cron_time(" ".join(args))
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 1
    if warning is not None:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
