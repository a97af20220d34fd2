"""The ``debug`` agent: static root-cause analysis from tracebacks and source, no network.

Modules, one job each::

    agent.py        DebugInput / DebugAgent, and analyse(): the pipeline, returns an Analysis
    files.py        affected_files expansion (files, dirs, globs), frame -> file mapping, snippets
    tracebacks.py   Python / pytest / plain error text -> exceptions with frames
    source.py       reading (encoding cookie), parsing, symbol-table errors, node and scope lookups
    scopes.py       name binding and resolution per module (undefined and unused names)
    context.py      FileContext: what a check sees of one file; import-aware qualified names
    checks.py       per-file rules: syntax, names/imports, async, except, defaults, None
    security.py     eval/exec, shell=True, pickle, yaml.load, hard-coded secrets, SQL formatting
    signatures.py   def -> Signature; calls bound like CPython, with its TypeError text
    index.py        definitions index of modules (analysed files, or the workspace when deep)
    calls.py        call arity, missing await, unresolved imports, import cycles
    links.py        how a traceback frame reaches other code (calls, data flow)
    rank.py         root cause, ranked hypotheses, hypothesis check
    rules.py        the rule catalogue: ids, severities, priors, what each explains
    model.py        the result values (Finding, Frame, Candidate, Analysis ...)
"""

from parallel_execution.agents.debug.agent import DebugAgent, DebugInput, analyse
from parallel_execution.agents.debug.model import Analysis

__all__ = ["Analysis", "DebugAgent", "DebugInput", "analyse"]
