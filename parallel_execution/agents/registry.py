"""Agent lookup by name: built-ins plus the ``parallel_execution.agents`` entry-point group.

A user's package adds an agent by declaring, in its pyproject::

    [project.entry-points."parallel_execution.agents"]
    my-agent = "my_package.agents:MyAgent"

Built-ins are listed here by import path (not imported) so start-up stays fast and the runner
works as a plain script without being installed. A built-in whose module is absent is not listed.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from importlib.metadata import entry_points

from parallel_execution.agents.base import Agent
from parallel_execution.errors import DispatchError

__all__ = ["ENTRY_POINT_GROUP", "UnknownAgent", "available_agents", "load_agent", "register_agent"]

ENTRY_POINT_GROUP = "parallel_execution.agents"

_BUILTIN = {
    "echo": "parallel_execution.agents.echo:EchoAgent",
    "command": "parallel_execution.agents.command:CommandAgent",
    "coder": "parallel_execution.agents.coder:CoderAgent",
    "debug": "parallel_execution.agents.debug:DebugAgent",
    "claude": "parallel_execution.agents.claude:ClaudeAgent",
}


# Agents registered in-process (Python API users, tests): name -> class. They take precedence.
_REGISTERED: dict[str, type[Agent]] = {}


class UnknownAgent(DispatchError, LookupError):
    pass


def register_agent(cls: type[Agent], name: str | None = None) -> type[Agent]:
    """Make ``cls`` available under ``name`` (default ``cls.name``) in this process; usable as a decorator."""
    _REGISTERED[name or cls.name] = cls
    available_agents.cache_clear()
    load_agent.cache_clear()
    return cls


@cache
def available_agents() -> dict[str, str]:
    """Agent name -> ``module:Class``: in-process registrations, built-ins, then entry points (which add
    names, never replace one)."""
    found = {name: f"{cls.__module__}:{cls.__qualname__}" for name, cls in _REGISTERED.items()}
    found |= {
        name: spec
        for name, spec in _BUILTIN.items()
        if name not in found and importlib.util.find_spec(spec.split(":")[0])
    }
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


@cache
def load_agent(name: str) -> type[Agent]:
    """Import and return the agent class registered as ``name``."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    spec = _BUILTIN.get(name)
    # A present built-in wins over entry points (they only add names), so it needs no scan of
    # every installed distribution's metadata (~7 ms of a CLI run).
    if spec is None or not importlib.util.find_spec(spec.split(":")[0]):
        spec = available_agents().get(name)
    if spec is None:
        known = ", ".join(sorted(available_agents()))
        raise UnknownAgent(f"unknown agent {name!r}; known agents: {known}")
    module_name, _, attr = spec.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise UnknownAgent(f"agent {name!r} ({spec}) is not an Agent subclass")
    return cls
