"""Traces: the per-task files, the index and the journal (writer), reading them back (store),
querying them (query), redaction of secrets, and the atomic file I/O they rest on."""

from parallel_execution.traces.writer import INPUT_NAME, JOURNAL_NAME, TraceWriter, index_path

__all__ = ["INPUT_NAME", "JOURNAL_NAME", "TraceWriter", "index_path"]
