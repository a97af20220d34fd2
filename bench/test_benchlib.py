"""Checks of the benchmarks' own arithmetic and a smoke run of each script (``python -m pytest -q bench/``).

The benchmarks are not tests; these make sure the numbers they print are computed from the right
graph, bound and baseline, and that every script still runs end to end on a tiny input.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import make_baseline
import overhead
import scheduling
import speedup


def test_two_parent_dag_shape_and_determinism() -> None:
    deps = benchlib.two_parent_dag(200, seed=3)
    assert deps[0] == [] and deps[1] == [0]
    for i, ds in enumerate(deps[2:], start=2):
        assert len(ds) == 2 and ds[0] < ds[1] < i
    assert benchlib.two_parent_dag(200, seed=3) == deps
    assert benchlib.two_parent_dag(200, seed=4) != deps


@pytest.mark.parametrize("seed", [0, 7, 101])
@pytest.mark.parametrize("scale", [1.0, 0.25])
def test_random_dag_respects_its_ranges(seed: int, scale: float) -> None:
    dag = benchlib.random_dag(seed, scale=scale)
    assert 30 <= dag.size <= 60
    assert 0.05 <= dag.edge_probability <= 0.15
    assert all(all(d < i for d in ds) for i, ds in enumerate(dag.deps))
    assert all(0.020 * scale - 1e-4 <= d <= 0.200 * scale + 1e-4 for d in dag.durations)
    assert benchlib.random_dag(seed, scale=scale) == dag


# a(3) -> c(1) ; b(1) -> c ; b -> d(4)
DIAMOND_DEPS = [[], [], [0, 1], [1]]
DIAMOND_DURATIONS = [3.0, 1.0, 1.0, 4.0]


def test_levels_are_longest_hop_counts() -> None:
    assert benchlib.levels(DIAMOND_DEPS) == [[0, 1], [2, 3]]
    assert benchlib.levels([[], [0], [1], [0]]) == [[0], [1, 3], [2]]
    assert benchlib.levels([]) == []


@pytest.mark.parametrize(
    ("workers", "bound"),
    [(1, 9.0), (2, 5.0), (3, 5.0), (8, 5.0)],  # total work 9; critical path b -> d = 5
)
def test_lower_bound_is_max_of_critical_path_and_work_share(workers: int, bound: float) -> None:
    assert benchlib.critical_path_length(DIAMOND_DEPS, DIAMOND_DURATIONS) == 5.0
    assert benchlib.lower_bound(DIAMOND_DEPS, DIAMOND_DURATIONS, workers) == bound


def test_echo_tasks_carry_delays_and_optional_estimates() -> None:
    plain = benchlib.echo_tasks([[], [0]])
    assert plain[1] == {"task_id": "t1", "agent": "echo", "input_data": {"message": 1}, "dependencies": ["t0"]}
    hinted = benchlib.echo_tasks([[], [0]], [0.5, 0.25], estimates=True)
    assert hinted[1]["input_data"] == {"message": 1, "delay_seconds": 0.25}
    assert hinted[1]["estimated_seconds"] == 0.25
    assert "estimated_seconds" not in benchlib.echo_tasks([[]], [0.5])[0]


def test_markdown_table_layout() -> None:
    assert benchlib.markdown_table(["a", "b"], [[1, "x"]]) == "| a | b |\n| :--- | ---: |\n| 1 | x |"


@pytest.mark.parametrize(("tasks", "workers", "ideal"), [(1, 5, 1.0), (3, 5, 3.0), (5, 5, 5.0), (10, 5, 5.0),
                                                         (7, 5, 3.5)])
def test_ideal_speedup(tasks: int, workers: int, ideal: float) -> None:
    assert speedup.ideal_speedup(tasks, workers) == ideal


def test_waves_baseline_waits_for_the_whole_level() -> None:
    # Level 0: a (60 ms), b (10 ms); level 1: c after b (10 ms). Event-driven: 60 ms; waves: 70 ms.
    dag = benchlib.RandomDag(seed=0, deps=[[], [], [1]], durations=[0.06, 0.01, 0.01], edge_probability=0.0)
    assert scheduling.run_waves(dag, workers=4) >= 0.07
    # One worker: the semaphore serialises each level (60 + 10, then 10).
    assert scheduling.run_waves(dag, workers=1) >= 0.08


def test_dask_graph_matches_the_dispatched_graph() -> None:
    dask_threaded = pytest.importorskip("dask.threaded")
    graph = overhead.dask_graph([[], [0], [0, 1]])
    assert graph["t2"][1:] == (2, "t0", "t1")
    assert dask_threaded.get(graph, ["t2"], num_workers=2) == ({"message": 2},)


def test_makefile_runs_the_graph_in_dependency_order(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dag = benchlib.RandomDag(seed=0, deps=[[], [0], [0, 1]], durations=[0.0, 0.0, 0.0], edge_probability=1.0)
    text = make_baseline.makefile(dag)
    assert "t2: t0 t1\n\t@sleep 0.0\n" in text
    # Replace each recipe by an echo of the target name to observe the order make chose.
    (tmp_path / "Makefile").write_text(text.replace("@sleep 0.0", "@echo $@"))
    out = subprocess.run(["make", "-s", "-j", "4", "all"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["t0", "t1", "t2"]
    tasks = make_baseline.command_tasks(dag)
    assert tasks[2]["input_data"] == {"argv": ["sleep", "0.0"]} and tasks[2]["dependencies"] == ["t0", "t1"]


# -- every script end to end on a tiny input --------------------------------------------------------


def test_overhead_script_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dask")
    assert overhead.main(["--tasks", "40", "--repeats", "1", "--settle", "0"]) == 0
    out = capsys.readouterr().out
    assert "## Overhead: 40 echo tasks" in out
    assert "| Dask `threaded.get`, same graph (the baseline) |" in out
    assert "Target (`dispatch()`, traces in a temp dir, fresh volume, per task <= Dask's):" in out
    assert "Target (`dispatch()`, traces in a temp dir, right after mass deletions, per task <= Dask's):" in out
    assert "Load average" in out


def test_scheduling_script_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert scheduling.main(["--dags", "1", "--scale", "0.02", "--workers", "4"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| 4 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    ours_mean, waves_mean, sim_mean = float(cells[1]), float(cells[5]), float(cells[7])
    assert ours_mean >= 1.0 and waves_mean >= 1.0 and sim_mean >= 1.0 - 1e-9
    assert "Target (ours mean <= 1.05):" in out


def test_speedup_script_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert speedup.main(["--tasks", "1", "10", "--delay", "0.02", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| 10 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5] == "5.00" and cells[7] == "3.33"  # ideal and the original's claim
    assert 1.0 < float(cells[4]) <= 5.0 + 1e-9
    assert float(cells[3]) == 0.04  # ideal time: two rounds of 20 ms


def test_make_baseline_script_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    assert make_baseline.main(["--dags", "1", "--scale", "0.05", "--workers", "2", "--repeats", "1",
                               "--trivial", "20"]) == 0
    out = capsys.readouterr().out
    spawn = [line for line in out.split("## Spawn cost")[1].splitlines() if line.startswith("| ")][2:]
    labels = [row.split("|")[1].strip() for row in spawn]
    assert labels[0].startswith("`make") and labels[1].startswith("`xargs") and "`dispatch()` in-process" in labels
    assert float(spawn[0].split("|")[5]) == 1.0  # each row divided by make's time
    row = next(line for line in out.splitlines() if line.startswith("| 101 ("))
    cells = [c.strip() for c in row.strip("|").split("|")]
    bound, make_s, cli_s, startup_s, api_s = (float(c) for c in cells[2:7])
    # Nothing beats the bound (small slack: sleep(1) rounds), and the ratios are the times' ratios.
    assert min(make_s, cli_s, api_s) >= bound * 0.95
    assert 0 < startup_s < cli_s
    assert float(cells[8]) == pytest.approx(api_s / make_s, rel=0.02)  # cells are rounded to ms


def test_dask_executor_script_prints_its_tables(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed")
    import dask_executor

    assert dask_executor.main(["--tasks", "8", "--repeats", "1", "--cpu-tasks", "2", "--cpu-seconds", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "| echo: ours (dispatch, executor dask) |" in out and "of raw with 4 in flight" in out
    row = next(line for line in out.splitlines() if line.startswith("| 2 |"))
    assert float(row.strip("|").split("|")[2].strip().rstrip("x")) > 0


def test_timed_counts_the_cpu_of_a_child_it_waited_for() -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    with benchlib.timed() as clock:
        subprocess.run([sys.executable, "-c", burn], check=True)
    assert clock.cpu >= 0.25


def test_volume_note_names_the_file_system() -> None:
    assert benchlib.volume_note(Path("/proc")) == "proc"
    assert benchlib.volume_note(Path("/no/such/folder")) == "unknown file system"


def test_trace_files_script_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    import trace_files

    assert trace_files.main(["--tasks", "30", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "the writer thread" in out and "the worker process" in out
