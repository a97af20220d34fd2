"""Stable content digests: what decides whether a finished task can be reused on resume.

A task's work is defined by its agent, its ``input_data`` as written (references unresolved) and
its dependencies (``input_digest``), plus the outputs of those dependencies as it consumed them
(``deps_digest``). Both unchanged: the earlier output is still the right answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from parallel_execution.inputs.schema import Task

__all__ = ["deps_digest", "digest", "input_digest"]


def digest(value: Any) -> str:
    """sha256 of a JSON value with keys sorted (so dict order never matters)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                                       default=str)).hexdigest()


def input_digest(task: Task) -> str:
    return digest({"agent": task.agent, "input_data": task.input_data, "dependencies": task.dependencies})


def deps_digest(task: Task, output_digests: Mapping[str, str]) -> str:
    """Digest of the dependency outputs the task sees, from each dependency's output ``digest``."""
    return digest({dep: output_digests.get(dep) for dep in sorted(task.dependencies)})
