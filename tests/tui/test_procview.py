"""Which processes the table shows and in which order (pure logic behind the table)."""

from __future__ import annotations

from autoglm_tui.model import ProcGpuUse, ProcSample
from autoglm_tui.tui.procview import ViewOptions, matches, sort_procs, tree_rows, visible_rows


def proc(pid: int, ppid: int | None = 1, cpu: float | None = 0.0, rss: int | None = 0,
         user: str = "u", cmd: str = "", gpu_mem: int | None = None,
         started: float | None = 100.0) -> ProcSample:
    gpus = (ProcGpuUse(0, gpu_mem),) if gpu_mem is not None else ()
    return ProcSample(pid, ppid, user, f"p{pid}", cmd or f"cmd{pid}", cpu, rss, started,
                      gpus=gpus)


def pids(rows: list) -> list[int]:  # type: ignore[type-arg]
    return [r.proc.pid if hasattr(r, "proc") else r.pid for r in rows]


def test_numbers_sort_biggest_first_with_unknown_last() -> None:
    ps = [proc(1, cpu=5.0), proc(2, cpu=None), proc(3, cpu=50.0), proc(4, cpu=5.0)]
    assert pids(sort_procs(ps, "cpu")) == [3, 1, 4, 2]
    assert pids(sort_procs(ps, "cpu", reverse=True)) == [1, 4, 3, 2]


def test_pid_user_and_command_sort_ascending() -> None:
    ps = [proc(30, user="bob"), proc(4, user="Alice"), proc(200, user="carol")]
    assert pids(sort_procs(ps, "pid")) == [4, 30, 200]
    assert pids(sort_procs(ps, "user")) == [4, 30, 200]
    assert pids(sort_procs(ps, "pid", reverse=True)) == [200, 30, 4]


def test_time_sort_puts_the_longest_running_first() -> None:
    ps = [proc(1, started=500.0), proc(2, started=100.0), proc(3, started=None)]
    assert pids(sort_procs(ps, "time")) == [2, 1, 3]


def test_gpu_processes_come_first_and_top_caps_the_rest() -> None:
    ps = [proc(i, cpu=float(i)) for i in range(1, 11)] + [proc(99, cpu=0.0, gpu_mem=1 << 30)]
    rows = visible_rows(ps, ViewOptions(sort="cpu", top=3))
    assert pids(rows) == [99, 10, 9, 8]
    assert rows[0].is_gpu and not rows[1].is_gpu
    assert len(visible_rows(ps, ViewOptions(top=0))) == 11


def test_filter_matches_user_command_and_pid() -> None:
    p = proc(4121, user="Alice", cmd="python -m vllm")
    assert matches(p, "alice") and matches(p, "VLLM") and matches(p, "412")
    assert not matches(p, "bob")
    ps = [p, proc(5, user="bob")]
    assert pids(visible_rows(ps, ViewOptions(filter="bob"))) == [5]


def test_tree_nests_by_ppid_and_survives_cycles() -> None:
    ps = [proc(1, ppid=0), proc(10, ppid=1), proc(11, ppid=10), proc(12, ppid=1),
          proc(50, ppid=51), proc(51, ppid=50)]
    rows = tree_rows(ps, lambda xs: sorted(xs, key=lambda p: p.pid))
    assert pids(rows) == [1, 10, 11, 12, 50, 51]
    prefix = {r.proc.pid: r.prefix for r in rows}
    assert prefix[1] == "" and prefix[10] == "├─ " and prefix[11] == "│  └─ "
    assert prefix[12] == "└─ "
    assert prefix[50] == "" and prefix[51] == "└─ "  # a cycle is broken, each shown once


def test_describe_names_the_column_and_direction() -> None:
    assert ViewOptions(sort="cpu").describe() == "CPU% ▼"
    assert ViewOptions(sort="pid").describe() == "PID ▲"
    assert ViewOptions(sort="pid", reverse=True).describe() == "PID ▼"
