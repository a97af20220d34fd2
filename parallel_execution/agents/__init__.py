"""Agents: small classes with one ``async run(data, ctx)``, looked up by name in the registry."""

from parallel_execution.agents.base import Agent, AgentInput, TaskContext
from parallel_execution.agents.registry import available_agents, load_agent

__all__ = ["Agent", "AgentInput", "TaskContext", "available_agents", "load_agent"]
