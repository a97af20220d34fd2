"""A small login service with deliberate bugs, analysed by examples/02 and examples/04.

Known defects (the debug examples must find them):
- auth.py: ``hash_password`` is called without its ``salt`` argument; ``sys`` is used but never
  imported.
- authorization.py: a mutable default argument, ``== None``, ``eval`` of policy text, a bare
  ``except:``.
- sessions.py: a hard-coded secret, SQL built with an f-string, ``pickle.loads`` of a cookie,
  ``yaml.load`` with the unsafe loader, ``subprocess.run(..., shell=True)``.

Reproduce the login failure from examples/workspace: ``python -c "import buggy_app.demo_login"``.
"""
