"""ONEX naming: node types, their entry points, and the class/model names derived from a node name.

A node is named by a snake_case ``node_name`` (``user_writer``); everything else follows:
class ``NodeUserWriterEffect``, models ``ModelUserWriterInput`` / ``ModelUserWriterOutput``,
recommended file ``node_user_writer_effect.py``. The generator and the validator both use these
functions, so what is generated is exactly what is checked.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "ENTRY_POINTS",
    "NODE_TYPES",
    "EntryPoint",
    "NodeNames",
    "NodeType",
    "node_names",
    "pascal_case",
    "snake_case",
]

NodeType = Literal["Effect", "Compute", "Reducer", "Orchestrator"]
NODE_TYPES: tuple[NodeType, ...] = get_args(NodeType)


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """The one entry point a node type must define on its class."""

    method: str
    is_async: bool
    params: tuple[str, ...]  # required parameters after ``self``, in order (names are advisory)


ENTRY_POINTS: dict[str, EntryPoint] = {
    "Effect": EntryPoint("execute_effect", True, ("input_data",)),
    "Compute": EntryPoint("execute_compute", False, ("input_data",)),
    "Reducer": EntryPoint("execute_reduction", False, ("state", "event")),
    "Orchestrator": EntryPoint("execute_orchestration", True, ("input_data",)),
}

_WORD_SPLIT = re.compile(r"[^0-9A-Za-z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(text: str) -> str:
    """``"UserWriter"``, ``"user-writer"``, ``"User writer"`` -> ``"user_writer"`` ('' if no words)."""
    words = [w for part in _WORD_SPLIT.split(text) for w in _CAMEL.split(part) if w]
    name = "_".join(w.lower() for w in words)
    if name and name[0].isdigit():
        name = f"n_{name}"
    if keyword.iskeyword(name):
        name = f"{name}_node"
    return name


def pascal_case(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_") if part)


@dataclass(frozen=True, slots=True)
class NodeNames:
    """Every name derived from one node name and type."""

    snake: str
    pascal: str
    node_type: NodeType
    class_name: str
    input_model: str
    output_model: str
    file_name: str


def node_names(node_name: str, node_type: NodeType) -> NodeNames:
    """Names for ``node_name`` (any case; a trailing type word such as ``_effect`` is dropped)."""
    snake = snake_case(node_name)
    suffix = f"_{node_type.lower()}"
    if snake.endswith(suffix) and snake != suffix.lstrip("_"):
        snake = snake[: -len(suffix)]
    if snake.startswith("node_") and len(snake) > len("node_"):
        snake = snake[len("node_"):]
    if not snake:
        raise ValueError(f"node name {node_name!r} has no letters or digits")
    pascal = pascal_case(snake)
    return NodeNames(
        snake=snake,
        pascal=pascal,
        node_type=node_type,
        class_name=f"Node{pascal}{node_type}",
        input_model=f"Model{pascal}Input",
        output_model=f"Model{pascal}Output",
        file_name=f"node_{snake}_{node_type.lower()}.py",
    )
