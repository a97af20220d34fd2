"""The ``coder`` agent: generates ONEX node files from a contract and validates them.

Modules, one job each::

    agent.py        CoderInput / CoderAgent: paths, framework choice, overwrite, writing, the output dict
    framework.py    auto | omnibase | standalone, from the project's evidence
    project.py      the project interpreter's sys.path; bounded subprocess runs
    safe_write.py   no-clobber in one atomic step; paths opened through directory handles
    omnibase/       real omnibase_core node folders: layout, handlers, checks, the framework's own
                    validators in the project's interpreter, the flow of one task
    backends.py     generate(): "scaffold" (deterministic) and the reserved "claude" slot
    spec.py         NodeSpec: contract + names + context -> model fields and steps
    contract.py     reading the contract text (verb, entity, target, contract lines)
    context.py      reading context files with ast; names the contract mentions
    naming.py       ONEX names and entry points per node type
    scaffold.py     deterministic source rendering; todo_lines() for any backend's code
    validator.py    validate_source(): the lenient / moderate / strict levels
    findings.py     names, imports, arity from the shared analysis layer (ruff, mypy) as named checks
    conventions.py  node class, models, entry point, purity, type hints, docstrings
    resolve.py      finding modules and their names without importing them (lazy packages, context)
    report.py       Check / ValidationReport
"""

from parallel_execution.agents.coder.agent import CoderAgent, CoderInput
from parallel_execution.agents.coder.report import Check, ValidationReport
from parallel_execution.agents.coder.validator import static_checks, validate_source

__all__ = ["Check", "CoderAgent", "CoderInput", "ValidationReport", "static_checks", "validate_source"]
