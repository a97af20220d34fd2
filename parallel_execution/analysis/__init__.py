"""The one static-analysis layer (issue 15): the debug agent's findings, and through ``source_check`` the
coder validator's, for a text before it is written, so the two report the same findings for a file.

Modules::

    interpreter.py  the user's project interpreter (imports resolve as for the user)
    astsafe.py      parsing untrusted source without exhausting the stack
    procs.py        analyzers as killable subprocesses with timeouts
    tools.py        ruff / mypy / bandit: where, version, project config, command line, caches
    diagnostics.py  Diagnostic and CheckRun values; each tool's JSON parsed
    catalogue.py    tool codes -> rules (missing-import, call-arity ...), import suggestions
    core.py         the few checks no tool has (insecure compare, dict key typo, import cycle)
    onex.py         ONEX node conventions (the coder's checks) as diagnostics
    files.py        reading regular files only; import roots; mypy groups
    engine.py       analyse(files, depth): which tools run, merged and classified
    source_check.py source texts (batched, cached per text) and package folders analysed as if at their paths
"""
