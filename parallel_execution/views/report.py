"""Print a report of a dispatch (markdown digest, HTML timeline or Chrome trace) from its traces.

::

    dispatch-runner report [latest | DISPATCH_ID | INDEX_FILE] [--format markdown|html|chrome-trace]
                           [-o FILE] [--trace-dir DIR] [--max-rows N]       (the command: ``commands.report``)

Everything is read back from the trace files (``tracestore``); nothing here touches a run.

* ``markdown`` (default): a digest sized to be read in one go, by people and by the dispatcher
  agent - overall status, time, speedup, critical path and cost; a table of tasks with each one's
  key output (the generated file, the root cause, the exit code, ...); then each failure with its
  error, the end of its traceback or stderr, its trace file and the tasks skipped because of it.
  Long texts are cut and point at the trace file; past ``--max-rows`` tasks the table keeps every
  task that did not succeed and says how many successes it left out.
* ``html``: one self-contained page (inline CSS and a few lines of inline JS, nothing fetched): the
  summary, a Gantt chart with one row per task (a bar per attempt, coloured by status, retries and
  backoff visible, the critical path outlined, hovering a row highlights its dependencies and
  dependents), a second chart with one row per worker slot, and the task table.
* ``chrome-trace``: trace-event JSON for Perfetto / chrome://tracing - a complete event per attempt
  on its worker slot's thread, agent events as instant events, and thread names for the slots.

Worker slots are not recorded by the scheduler; ``assign_lanes`` recovers them greedily from the
timings (a task takes the lowest slot free at its start), which never needs more than max_workers.
"""

from __future__ import annotations

import html
import math
from typing import Any

from parallel_execution.agents.base import brief
from parallel_execution.traces.store import DispatchRecord

__all__ = ["assign_lanes", "chrome_trace", "html_report", "key_output", "markdown_report", "task_spans"]

_ICON = {"success": "✅", "error": "❌", "timeout": "⏱️", "skipped": "⏭️", "cancelled": "🚫", "pending": "⏳"}
_COLOUR = {"success": "#2f9e5b", "error": "#d64545", "timeout": "#e0801e", "skipped": "#b8a44a",
           "cancelled": "#8c8c8c", "pending": "#5b8def", "running": "#5b8def"}


# -- shared facts ------------------------------------------------------------------------------------

_short = brief


def _secs(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def is_skeleton(output: dict[str, Any]) -> bool:
    """A coder output whose logic is still ``NotImplementedError`` (older traces: any scaffold)."""
    return bool(output.get("skeleton", output.get("implementation") == "scaffold"))


def key_output(agent: str, output: Any, limit: int = 90) -> str:
    """The one line that matters in a task's output: the agent's own ``summarise``, else its first fields."""
    if output is None:
        return ""
    if not isinstance(output, dict):
        return _short(output, limit)
    parts = _agent_summary(agent, output)
    if parts is None:
        parts = [f"{k}: {_short(v, 30)}" for k, v in list(output.items())[:3]]
    return _short(", ".join(parts), limit)


def _agent_summary(agent: str, output: dict[str, Any]) -> list[str] | None:
    from parallel_execution.agents.registry import UnknownAgent, load_agent

    try:
        return load_agent(agent).summarise(output)
    except (UnknownAgent, ImportError):
        return None
    except Exception:  # a third-party agent's summary must not break the report
        return None


def task_spans(record: DispatchRecord) -> dict[str, list[dict[str, Any]]]:
    """Per task, its attempts as ``{start, end, status, attempt, error, events}`` (ms)."""
    spans: dict[str, list[dict[str, Any]]] = {}
    for entry, trace in record.task_traces():
        task_id, out = str(entry["task_id"]), []
        for a in (trace or {}).get("attempts") or []:
            if a.get("started_ms") is not None and a.get("finished_ms"):
                out.append({"start": a["started_ms"], "end": a["finished_ms"], "status": a.get("status"),
                            "attempt": a.get("attempt"), "error": a.get("error"), "events": a.get("events") or []})
        if not out and entry.get("started_ms") is not None and entry.get("finished_ms") is not None:
            out.append({"start": entry["started_ms"], "end": entry["finished_ms"], "status": entry.get("status"),
                        "attempt": entry.get("attempts") or 1, "error": entry.get("error"), "events": []})
        spans[task_id] = out
    return spans


def assign_lanes(record: DispatchRecord) -> dict[str, int]:
    """Worker slot (0-based) of each task that ran: greedy, lowest free slot at its start."""
    timed = [(t["started_ms"], t["finished_ms"], t["task_id"]) for t in record.tasks
             if t.get("started_ms") is not None and t.get("finished_ms") is not None]
    lane_end: list[float] = []
    lanes: dict[str, int] = {}
    for start, end, task_id in sorted(timed):
        free = next((n for n, busy_until in enumerate(lane_end) if busy_until <= start), None)
        if free is None:
            free = len(lane_end)
            lane_end.append(end)
        lane_end[free] = end
        lanes[task_id] = free
    return lanes


def _overview(record: DispatchRecord) -> dict[str, Any]:
    counts = record.counts()
    summary = record.summary or {}
    tasks = record.tasks
    wall = summary.get("total_time_ms")
    if wall is None:
        wall = max((t.get("finished_ms") or 0.0 for t in tasks), default=0.0)
    work = summary.get("task_time_ms", sum(t.get("execution_time_ms") or 0.0 for t in tasks))
    cost = summary.get("total_cost_usd", sum(t.get("cost_usd") or 0.0 for t in tasks))
    return {
        "counts": counts, "ok": counts.get("success", 0), "failed": counts.get("error", 0) + counts.get("timeout", 0),
        "skipped": counts.get("skipped", 0), "cancelled": counts.get("cancelled", 0),
        "pending": counts.get("pending", 0), "wall_ms": wall, "work_ms": work,
        "speedup": summary.get("speedup", round(work / wall, 3) if wall else 1.0),
        "critical_path": summary.get("critical_path") or [], "critical_path_ms": summary.get("critical_path_ms"),
        "workers": summary.get("max_workers", record.config.get("max_workers")), "cost": cost,
    }


# -- markdown ----------------------------------------------------------------------------------------

def _cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_report(record: DispatchRecord, max_rows: int = 40) -> str:
    o, tasks = _overview(record), record.tasks
    lines = [f"# Dispatch `{record.dispatch_id}`: {record.status}", ""]
    if record.index.get("user_prompt"):
        lines += [f"> {_short(record.index['user_prompt'], 300)}", ""]
    if o["pending"]:
        lines += [f"**Not finished:** {o['pending']} tasks have no result (still running, or the run was killed).", ""]
    lines += [
        f"- **Tasks:** {len(tasks)}: {o['ok']} succeeded, {o['failed']} failed, {o['skipped']} skipped, "
        f"{o['cancelled']} cancelled",
        f"- **Time:** {_secs(o['wall_ms'])} wall for {_secs(o['work_ms'])} of task time: speedup "
        f"x{o['speedup']} on {o['workers']} workers",
    ]
    if o["critical_path"]:
        lines.append(f"- **Critical path:** {' → '.join(o['critical_path'])} ({_secs(o['critical_path_ms'])})")
    lines += [f"- **Cost:** ${o['cost'] or 0:.4f}", f"- **Index:** `{record.index_path}`", "", "## Tasks", "",
              "| task | agent | status | time | tries | key output |", "|---|---|---|---|---|---|"]
    shown = tasks
    if len(tasks) > max_rows:  # every task that did not succeed first, then successes in input order
        not_ok = [t["task_id"] for t in tasks if t.get("status") != "success"][:max_rows]
        ok = [t["task_id"] for t in tasks if t.get("status") == "success"][:max_rows - len(not_ok)]
        keep = {*not_ok, *ok}
        shown = [t for t in tasks if t["task_id"] in keep]
    for t in shown:
        trace = record.task_trace(t["task_id"]) if t.get("status") == "success" else None
        output = key_output(t.get("agent", ""), (trace or {}).get("output")) if trace else _short(t.get("error") or "", 90)
        status = t.get("status") or "pending"
        lines.append(f"| {_cell(t['task_id'])} | {_cell(t.get('agent'))} | {_ICON.get(status, '')} {status} | "
                     f"{_secs(t.get('execution_time_ms') if t.get('started_ms') is not None else None)} | {t.get('attempts') or 0} | {_cell(output)} |")
    if len(shown) < len(tasks):
        lines += ["", f"… {len(tasks) - len(shown)} more tasks not listed: "
                  f"`dispatch-runner traces query {record.dispatch_id} '.tasks[] | {{task_id, status}}'`"]
    lines += _skeletons_md(record)
    lines += _failures_md(record)
    lines += _isolation_md(record)
    return "\n".join(lines) + "\n"


def _skeletons_md(record: DispatchRecord) -> list[str]:
    """Skeleton files: list each one's todos, so no reader takes them for finished code."""
    lines: list[str] = []
    for t in record.tasks:
        if t.get("status") != "success":
            continue
        output = (record.task_trace(t["task_id"]) or {}).get("output")
        if not isinstance(output, dict) or "generated_file" not in output or not is_skeleton(output):
            continue
        todo = [str(item) for item in output.get("todo") or []]
        lines += ["", f"### {t['task_id']}: `{output.get('generated_file')}`", ""]
        lines += [f"- {_short(item, 200)}" for item in todo[:20]] or [
            "- the logic (no contract lines were recorded)"]
    return ["", "## Skeletons still to implement",
            "", "Validated structure; these contract lines still raise `NotImplementedError`.", *lines] if lines else []


def _failures_md(record: DispatchRecord) -> list[str]:
    failed = [t for t in record.tasks if t.get("status") in ("error", "timeout", "cancelled")]
    if not failed:
        return []
    lines = ["", "## Failures"]
    skipped = [t for t in record.tasks if t.get("status") == "skipped"]
    for t in failed[:20]:
        trace = record.task_trace(t["task_id"]) or {}
        lines += ["", f"### {t['task_id']} ({t.get('agent')}): {t.get('status')}", "",
                  f"{_short(t.get('error') or 'no error message', 600)}"]
        last = (trace.get("attempts") or [{}])[-1]
        detail = last.get("traceback")
        output: dict[str, Any] = trace["output"] if isinstance(trace.get("output"), dict) else {}
        if not detail and output.get("stderr_tail"):
            detail = output["stderr_tail"]
        if detail:
            tail = (detail if isinstance(detail, str) else "\n".join(map(str, detail))).rstrip().splitlines()[-6:]
            lines += ["", "```", *(_short(line, 160) for line in tail), "```"]
        if output:
            lines.append(f"\nOutput: {_cell(key_output(t.get('agent', ''), output, 200))}")
        because = [s["task_id"] for s in skipped if repr(t["task_id"]) in (s.get("error") or "")]
        if because:
            lines.append(f"\nSkipped because of it: {', '.join(because[:20])}" + (" …" if len(because) > 20 else ""))
        lines.append(f"\nTrace: `{t.get('trace_file') or record.trace_path(t['task_id'])}`")
    if len(failed) > 20:
        lines += ["", f"… {len(failed) - 20} more failures: "
                  f"`dispatch-runner traces query {record.dispatch_id} '.tasks[] | select(.status==\"error\")'`"]
    return lines


def _isolation_md(record: DispatchRecord) -> list[str]:
    """Tasks that ran in their own worktree: branch, merge outcome, gate, what was kept."""
    rows = []
    for t in record.tasks:
        info = (record.task_trace(t["task_id"]) or {}).get("isolation")
        if not isinstance(info, dict):
            continue
        gate = info.get("gate") or {}
        gate_text = "" if not gate else ("passed" if gate.get("exit_code") == 0 else
                                         f"failed (exit {gate.get('exit_code')}): "
                                         f"{_short(next(iter(reversed(gate.get('output_tail') or [''])), ''), 80)}")
        merge = info.get("merge") or "not merged"
        if merge == "conflict":
            merge += ": " + ", ".join(info.get("conflicts") or [])
        kept = f"kept at `{info['worktree']}`" if info.get("kept_for_inspection") else ""
        rows.append(f"| {_cell(t['task_id'])} | `{info.get('branch', '')}` | {_cell(merge)} | {_cell(gate_text)} | "
                    f"{kept} |")
    if not rows:
        return []
    return ["", "## Worktrees", "", "| task | branch | merge | gate | worktree |", "|---|---|---|---|---|", *rows]


# -- chrome trace ------------------------------------------------------------------------------------

def chrome_trace(record: DispatchRecord) -> dict[str, Any]:
    """Trace-event JSON: one complete event per attempt, tid = worker slot + 1, times in µs."""
    lanes, spans = assign_lanes(record), task_spans(record)
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": f"dispatch {record.dispatch_id}"}}]
    for lane in sorted(set(lanes.values())):
        events.append({"ph": "M", "pid": 1, "tid": lane + 1, "name": "thread_name", "args": {"name": f"worker {lane + 1}"}})
        events.append({"ph": "M", "pid": 1, "tid": lane + 1, "name": "thread_sort_index", "args": {"sort_index": lane}})
    for t in record.tasks:
        tid = lanes.get(t["task_id"], -1) + 1
        for s in spans.get(t["task_id"], []):
            events.append({"ph": "X", "pid": 1, "tid": tid, "name": t["task_id"], "cat": t.get("agent") or "task",
                           "ts": round(s["start"] * 1000, 1), "dur": round((s["end"] - s["start"]) * 1000, 1),
                           "args": {"status": s["status"], "attempt": s["attempt"], "error": s["error"],
                                    "dependencies": t.get("dependencies") or []}})
            for ev in s["events"]:
                if isinstance(ev.get("t_ms"), (int, float)):
                    events.append({"ph": "i", "s": "t", "pid": 1, "tid": tid, "name": str(ev.get("event")),
                                   "ts": round((s["start"] + ev["t_ms"]) * 1000, 1), "args": ev})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"dispatch_id": record.dispatch_id, "status": record.status}}


# -- html --------------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 12px}
.card b{display:block;font-size:18px}.muted{color:#777}
.gantt{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}
.row{display:flex;align-items:center;height:22px}.row:hover,.row.dep,.row.dependent{background:#eef3ff}
.row.dep .label{color:#1d4ed8;font-weight:600}.row.dependent .label{color:#7c3aed;font-weight:600}
.label{width:220px;flex:none;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-size:12px;padding-right:6px}
.track{position:relative;flex:1;height:16px;border-left:1px solid #ccc;margin-right:48px}
.bar{position:absolute;top:1px;height:14px;border-radius:3px;min-width:2px;box-sizing:border-box;border:1px solid #fff;
overflow:hidden;white-space:nowrap;color:#fff;font-size:10px;line-height:12px;padding-left:3px}
.bar.crit{outline:2px solid #111;outline-offset:0}.axis .track{border:0;height:18px}
.tick{position:absolute;top:0;font-size:11px;color:#888;border-left:1px dotted #ccc;padding-left:2px;height:18px;white-space:nowrap}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px;text-align:left}td{overflow-wrap:anywhere}td:nth-child(-n+5){white-space:nowrap}
.legend span{display:inline-block;margin-right:12px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
"""
_JS = """
document.querySelectorAll('.row[data-id]').forEach(function(r){
  function mark(on){var deps=(r.dataset.deps||'').split(' ');
    document.querySelectorAll('.row[data-id]').forEach(function(o){
      o.classList.toggle('dep',on&&deps.indexOf(o.dataset.id)>=0);
      o.classList.toggle('dependent',on&&(o.dataset.deps||'').split(' ').indexOf(r.dataset.id)>=0);});}
  r.addEventListener('mouseenter',function(){mark(true)});r.addEventListener('mouseleave',function(){mark(false)});});
"""


def _ticks(total_ms: float) -> list[float]:
    if total_ms <= 0:
        return [0.0]
    raw = total_ms / 8
    step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    return [n * step for n in range(int(total_ms // step) + 1)]


def html_report(record: DispatchRecord) -> str:
    """One self-contained HTML page: summary, Gantt by task and by worker slot, task table."""
    o, esc = _overview(record), html.escape
    spans, lanes = task_spans(record), assign_lanes(record)
    end = max([s["end"] for ss in spans.values() for s in ss] + [o["wall_ms"] or 0.0, 1.0])
    critical = set(o["critical_path"])

    def pct(ms: float) -> str:
        return f"{100 * ms / end:.3f}%"

    def bar(task: dict[str, Any], s: dict[str, Any]) -> str:
        tip = (f"{task['task_id']} ({task.get('agent')}) attempt {s['attempt']}: {s['status']}, "
               f"{_secs(s['end'] - s['start'])} from {_secs(s['start'])}"
               f"\ndepends on: {', '.join(task.get('dependencies') or []) or 'nothing'}"
               + (f"\n{_short(s['error'], 200)}" if s.get("error") else ""))
        crit = " crit" if task["task_id"] in critical else ""
        return (f'<div class="bar{crit}" title="{esc(tip)}" style="left:{pct(s["start"])};'
                f'width:{pct(s["end"] - s["start"])};background:{_COLOUR.get(s["status"] or "", "#999")}">{esc(task["task_id"])}</div>')

    axis = "".join(f'<span class="tick" style="left:{pct(t)}">{esc(_secs(t))}</span>' for t in _ticks(end))
    axis_row = f'<div class="row axis"><div class="label"></div><div class="track">{axis}</div></div>'
    by_task, by_lane = [axis_row], [axis_row]
    order = sorted(record.tasks, key=lambda t: (t.get("started_ms") is None, t.get("started_ms") or 0.0))
    for t in order:
        slot = f" · slot {lanes[t['task_id']] + 1}" if t["task_id"] in lanes else f" · {t.get('status')}"
        bars = "".join(bar(t, s) for s in spans.get(t["task_id"], []))
        by_task.append(f'<div class="row" data-id="{esc(t["task_id"])}" data-deps="{esc(" ".join(t.get("dependencies") or []))}">'
                       f'<div class="label" title="{esc(t.get("description") or t["task_id"])}">{esc(t["task_id"])}'
                       f'<span class="muted">{esc(slot)}</span></div><div class="track">{bars}</div></div>')
    for lane in sorted(set(lanes.values())):
        bars = "".join(bar(t, s) for t in record.tasks if lanes.get(t["task_id"]) == lane
                       for s in spans.get(t["task_id"], []))
        by_lane.append(f'<div class="row"><div class="label">worker slot {lane + 1}</div><div class="track">{bars}</div></div>')

    cards = [("status", record.status), ("tasks", len(record.tasks)), ("succeeded", o["ok"]), ("failed", o["failed"]),
             ("skipped", o["skipped"] + o["cancelled"]), ("wall time", _secs(o["wall_ms"])),
             ("task time", _secs(o["work_ms"])), ("speedup", f"x{o['speedup']}"), ("workers", o["workers"]),
             ("cost", f"${o['cost'] or 0:.4f}")]
    rows = []
    for t in record.tasks:
        trace = record.task_trace(t["task_id"]) or {}
        shown = key_output(t.get("agent", ""), trace.get("output")) if t.get("status") == "success" else (t.get("error") or "")
        rows.append("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in (
            t["task_id"], t.get("agent"), t.get("status"),
            _secs(t.get("execution_time_ms") if t.get("started_ms") is not None else None), t.get("attempts") or 0,
            ", ".join(t.get("dependencies") or []), _short(shown, 160), t.get("trace_file") or "")) + "</tr>")
    legend = "".join(f'<span><i style="background:{c}"></i>{s}</span>' for s, c in _COLOUR.items() if s != "running")
    prompt = f'<p class="muted">{esc(_short(record.index["user_prompt"], 400))}</p>' if record.index.get("user_prompt") else ""
    path = " → ".join(o["critical_path"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dispatch {esc(record.dispatch_id)}</title>
<style>{_CSS}</style></head><body>
<h1>Dispatch {esc(record.dispatch_id)} <span class="badge" style="background:{_COLOUR.get('success' if record.status == 'success' else 'error')}">{esc(record.status)}</span></h1>
{prompt}<p class="muted">started {esc(str(record.index.get('started_at')))} · index {esc(str(record.index_path))}</p>
<div class="cards">{''.join(f'<div class="card"><span class="muted">{esc(k)}</span><b>{esc(str(v))}</b></div>' for k, v in cards)}</div>
<p>Critical path: {esc(path) or '-'} ({esc(_secs(o['critical_path_ms']))}, outlined below)</p>
<h2>Timeline by task</h2><p class="legend">{legend} <span class="muted">hover a row: its dependencies turn blue, its dependents purple</span></p>
<div class="gantt">{''.join(by_task)}</div>
<h2>Timeline by worker slot</h2><div class="gantt">{''.join(by_lane)}</div>
<h2>Tasks</h2><table><tr><th>task</th><th>agent</th><th>status</th><th>time</th><th>tries</th><th>depends on</th><th>key output / error</th><th>trace</th></tr>
{''.join(rows)}</table>
<script>{_JS}</script></body></html>
"""
