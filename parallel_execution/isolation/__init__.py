"""Isolation: tasks that change code run in their own git worktrees and merge in DAG order behind a gate."""
