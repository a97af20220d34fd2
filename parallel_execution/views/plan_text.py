"""``describe_plan_text``: ``ValidatedPlan.describe()`` as readable lines, for ``dispatch-runner validate``.

Its own module (re-exported by ``views.progress``) so that ``validate`` does not import the run's
displays, outcomes and event log to print a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["describe_plan_text"]


def _names(ids: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" (+{len(ids) - limit} more)" if len(ids) > limit else "")


def describe_plan_text(plan: dict[str, Any]) -> str:
    """Readable lines about a validated plan (``ValidatedPlan.describe()``), for stderr."""
    levels = plan["levels"]
    lines = [f"valid: {plan['total_tasks']} tasks in {len(levels)} levels, up to {plan['max_workers']} at once"]
    lines += [f"  level {n}: {_names(ids)}" for n, ids in enumerate(levels[:12])]
    if len(levels) > 12:
        lines.append(f"  ... {len(levels) - 12} more levels")
    lines.append(f"critical path: {_names(plan['critical_path'], 12).replace(', ', ' -> ')} "
                 f"({plan['critical_path_seconds']:g} s est.)")
    lines.append(f"expected: {plan['expected_makespan_seconds']:g} s on {plan['max_workers']} workers for "
                 f"{plan['total_work_seconds']:g} s of work: speedup x{plan['expected_speedup']:g} "
                 f"(ideal x{plan['ideal_speedup']:g}); estimates {plan['estimates']}")
    return "\n".join(lines)
