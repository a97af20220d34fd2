"""The ``echo`` agent: returns its message after an optional delay (examples, tests, benchmarks)."""

# No ``from __future__ import annotations``: pydantic would compile every field's annotation from
# its string (~50 µs a field, ~3 ms of each CLI start over the input and output models).

import asyncio
from typing import Any

from pydantic import Field

from parallel_execution.agents.base import Agent, AgentInput, TaskContext, brief
from parallel_execution.errors import TaskFailure
from parallel_execution.inputs.schema import empty_list

__all__ = ["EchoAgent", "EchoInput"]


class EchoInput(AgentInput):
    message: Any = None
    delay_seconds: float = Field(default=0.0, ge=0)
    # For tests and demos of failure handling: fail on these attempt numbers (1-based).
    fail_on_attempts: list[int] = Field(default_factory=empty_list)


class EchoAgent(Agent[EchoInput]):
    name = "echo"
    Input = EchoInput

    @classmethod
    def summarise(cls, output: dict[str, Any]) -> list[str] | None:
        return [brief(output["message"], 200)] if set(output) == {"message"} else None

    async def run(self, data: EchoInput, ctx: TaskContext) -> dict[str, Any]:
        if data.delay_seconds:
            await asyncio.sleep(data.delay_seconds)
        if ctx.attempt in data.fail_on_attempts:
            raise TaskFailure(f"echo failed on purpose on attempt {ctx.attempt}")
        return {"message": data.message}
