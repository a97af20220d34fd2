"""What people see of a run: live progress on stderr and reports (markdown, html, chrome-trace)."""
