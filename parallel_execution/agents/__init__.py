"""Agents: small classes with one ``async run(data, ctx)``, looked up by name in the registry.

The contract (``Agent``, ``AgentInput``, ``TaskContext``) is imported here; the registry's names
load on first use, since the registry names every built-in agent (an agent's own modules import
``agents.base`` and must not pull the registry, and through it every other agent, in with it).
"""

from __future__ import annotations

import importlib
from typing import Any

from parallel_execution.agents.base import Agent, AgentInput, TaskContext

__all__ = ["Agent", "AgentInput", "TaskContext", "available_agents", "load_agent"]


def __getattr__(name: str) -> Any:
    if name in ("available_agents", "load_agent"):
        return getattr(importlib.import_module("parallel_execution.agents.registry"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
