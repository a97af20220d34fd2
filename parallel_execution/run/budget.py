"""A dispatch-wide spending cap for model tasks (``config.budget_usd``).

Agents that call a model report each result's cost with ``add``; the scheduler asks ``exhausted``
before starting a model task, and once the cap is reached such tasks end ``skipped`` with reason
``budget_exhausted`` instead of starting. The budget lives in the dispatch's ``Services`` under
``BUDGET_SERVICE``. Tasks already running finish (their own ``max_budget_usd`` bounds them).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BUDGET_SERVICE", "Budget"]

BUDGET_SERVICE = "budget"


@dataclass(slots=True)
class Budget:
    limit_usd: float | None = None
    spent_usd: float = 0.0

    def add(self, usd: float | None) -> None:
        if usd:
            self.spent_usd += float(usd)

    @property
    def remaining_usd(self) -> float | None:
        return None if self.limit_usd is None else max(0.0, self.limit_usd - self.spent_usd)

    @property
    def exhausted(self) -> bool:
        return self.limit_usd is not None and self.spent_usd >= self.limit_usd
