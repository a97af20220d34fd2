"""Reproduces the reported failure: every login ends in AuthenticationError.

Run from examples/workspace: ``python -c "import buggy_app.demo_login"``.
"""

from buggy_app.auth import login

print(login("ada", "correct horse battery staple"))
