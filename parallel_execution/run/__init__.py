"""The run: the scheduler, attempt outcomes and observer hooks, the cost budget, and resume."""
