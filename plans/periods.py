"""Period arithmetic: when a billing period or a trial ends, and what a day of a price is worth."""

import calendar
from datetime import datetime, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from plans.models import Plan, PlanPrice

# Average days per unit (Gregorian), for comparing prices of different intervals.
_DAYS = {"day": Decimal(1), "week": Decimal(7), "month": Decimal("30.436875"), "year": Decimal("365.2425")}


def add_interval(start: datetime, *, unit: str, count: int, anchor: datetime | None = None) -> datetime:
    """`start` plus `count` units. Months and years keep the anchor's day, clamped to shorter
    months (Jan 31 -> Feb 28 -> Mar 31), so periods never drift."""
    if unit == "day":
        return start + timedelta(days=count)
    if unit == "week":
        return start + timedelta(weeks=count)
    months = count * (12 if unit == "year" else 1)
    result = start + relativedelta(months=months)
    day = (anchor or start).day
    last = calendar.monthrange(result.year, result.month)[1]
    return result.replace(day=min(day, last))


def period_end(plan: Plan, start: datetime, anchor: datetime | None = None) -> datetime:
    return add_interval(start, unit=plan.interval, count=plan.interval_count, anchor=anchor)


def trial_end(plan: Plan, start: datetime, *, length: int | None = None, unit: str | None = None) -> datetime:
    return add_interval(start, unit=unit or plan.trial_unit, count=length or plan.trial_length)


def interval_months(interval: str, count: int) -> Decimal:
    """How many (average Gregorian) months `count` intervals last: a year is 12, a week 7/30.436875."""
    return _DAYS[interval] * count / _DAYS["month"]


def daily_rate(price: PlanPrice) -> Decimal:
    """The price of one day of the plan: an upgrade is a move to a higher daily rate."""
    plan = price.plan
    return price.amount.amount / (_DAYS[plan.interval] * plan.interval_count)
