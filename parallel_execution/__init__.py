"""parallel_execution: run a graph of agent tasks in parallel, with traces and one JSON result."""

__version__ = "0.1.0"
