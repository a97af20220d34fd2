"""The command line: ``dispatch-runner`` and its subcommands."""
