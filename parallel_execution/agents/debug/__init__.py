"""The ``debug`` agent: static root-cause analysis from tracebacks and source, no network.

See ``agent`` for the pipeline; ``tracebacks`` parses error text, ``checks``/``security``/``calls``
emit findings under the rule ids of ``rules``, ``index`` follows names across modules, ``rank``
turns findings and frames into a root cause with a confidence and a fix.
"""

from parallel_execution.agents.debug.agent import DebugAgent, DebugInput, analyse
from parallel_execution.agents.debug.model import Analysis

__all__ = ["Analysis", "DebugAgent", "DebugInput", "analyse"]
