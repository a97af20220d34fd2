"""The DAG layer: checks on the task graph (cycles, unknown ids, critical path). It never runs anything."""

from parallel_execution.graph.checks import (
    GraphFacts,
    bottom_levels,
    check_graph,
    critical_path,
    detect_circular_dependencies,
    simulate_makespan,
    validate_task_dependencies,
)

__all__ = [
    "GraphFacts",
    "bottom_levels",
    "check_graph",
    "critical_path",
    "detect_circular_dependencies",
    "simulate_makespan",
    "validate_task_dependencies",
]
