"""Rules files: parsing, validation with line numbers, merging with the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoglm_tui.alerting.rule_files import default_rules, load_rule_set, load_rules_file
from autoglm_tui.analysis.alerts import RulesFileError, parse_rules
from autoglm_tui.events import NodeStatus
from autoglm_tui.metrics import Scope


def _errors(text: str) -> list[tuple[int, str]]:
    _, errors, _ = parse_rules(text, "r.toml")
    return [(e.line, str(e)) for e in errors]


def _by_line(text: str) -> dict[int, str]:
    """Every error message, joined per line."""
    out: dict[int, str] = {}
    for line, msg in _errors(text):
        out[line] = out.get(line, "") + msg + "\n"
    return out


def test_default_rules_are_the_seed_table() -> None:
    rules = {r.name: r for r in default_rules()}
    util = rules["gpu_util_high"]
    assert (util.metric, util.op, util.threshold, util.for_s, util.severity) == (
        "gpu.util_pct", ">", 85, 180, "warning")
    assert util.scope == Scope.GPU
    mem = rules["gpu_mem_high"]
    assert (mem.metric, mem.threshold, mem.for_s, mem.severity) == (
        "gpu.mem_used_pct", 90, 0, "critical")
    lat = rules["latency_p95_high"]
    assert (lat.metric, lat.threshold, lat.for_s) == ("svc.latency_p95_s", 2, 10)
    err = rules["error_rate_high"]
    assert (err.metric, err.threshold, err.for_s) == ("svc.error_rate", 1, 0)
    io = rules["HIGH_CONCURRENT_IO_PRESSURE"]
    assert io.kind == "joint"
    assert [str(c) for c in io.conditions] == ["net.util_pct > 80", "disk.await_ms > 100"]
    node = rules["node_not_up"]
    assert node.kind == "node" and node.for_s == 30
    # a graceful leave (LEFT) is no page
    assert set(node.statuses) == {NodeStatus.STALE, NodeStatus.UNREACHABLE,
                                  NodeStatus.INVALID, NodeStatus.FAILED}
    assert not rules["gpu_util_anomaly"].enabled


def test_issue_examples_parse() -> None:
    text = """
[[rule]]
name = "gpu_util_high"
metric = "gpu.util_pct"
op = ">"
threshold = 85
for = "3m"
severity = "warning"

[[rule]]
name = "gpu_util_anomaly"
kind = "zscore"
metric = "gpu.util_pct"
window = "10m"
z = 3
"""
    rules, errors, use_defaults = parse_rules(text)
    assert errors == [] and use_defaults
    assert [r.name for r in rules] == ["gpu_util_high", "gpu_util_anomaly"]
    assert rules[1].window_s == 600 and rules[1].z == 3 and rules[1].kind == "zscore"
    assert rules[0].line == 2 and rules[1].line == 10


def test_errors_carry_the_line_of_the_key() -> None:
    text = """# my rules
[[rule]]
name = "ok"
metric = "cpu.util_pct"
threshold = 90

[[rule]]
name = "typo"
metric = "gpu.utl_pct"
treshold = 85
for = "3 minutes"
severity = "urgent"
"""
    errs = _errors(text)
    by_line = _by_line(text)
    assert "unknown metric 'gpu.utl_pct'" in by_line[9]
    assert "did you mean 'gpu.util_pct'" in by_line[9]
    assert "unknown key 'treshold'" in by_line[10] and "did you mean 'threshold'" in by_line[10]
    assert "'for'" in by_line[11]
    assert "severity must be one of info, warning, critical" in by_line[12]
    assert all(msg.startswith(f"r.toml:{line}: rule 'typo':") for line, msg in errs)
    # the good rule still parses
    rules, _, _ = parse_rules(text)
    assert [r.name for r in rules] == ["ok"]


def test_missing_fields_point_at_the_table() -> None:
    errs = _errors('[[rule]]\nname = "x"\nmetric = "cpu.util_pct"\n\n[[rule]]\nmetric = "x"\n')
    assert (1, "r.toml:1: rule 'x': missing 'threshold' (a number)") in errs
    assert any(line == 5 and "missing 'name'" in msg for line, msg in errs)


def test_toml_syntax_error_has_its_line() -> None:
    errs = _errors('[[rule]]\nname = "x"\nthreshold = \n')
    assert len(errs) == 1
    line, msg = errs[0]
    assert line == 3 and "TOML syntax error" in msg


def test_duplicate_names_and_bad_values() -> None:
    text = """
[[rule]]
name = "a"
metric = "cpu.util_pct"
threshold = 1
op = "=>"

[[rule]]
name = "a"
metric = "cpu.util_pct"
threshold = "high"
summary = "{node} {nope}"
"""
    errs = _by_line(text)
    assert "bad op '=>'" in errs[6]
    assert "duplicate rule name (first defined at line 2)" in errs[9]
    assert "'threshold' must be a number" in errs[11]
    assert "unknown field {nope}" in errs[12]


def test_kind_specific_checks() -> None:
    text = """
[[rule]]
name = "peer_on_node_metric"
kind = "peer"
metric = "cpu.util_pct"
group = "node"

[[rule]]
name = "joint_bad"
kind = "joint"
when = ["net.util_pct > 80", "disk.await > 100", "gpu.util_pct >> 3"]

[[rule]]
name = "scope_bad"
metric = "cpu.util_pct"
threshold = 1
scope = "gpu"

[[rule]]
name = "node_bad"
kind = "node"
statuses = ["UP", "STALE"]

[[rule]]
name = "z_bad"
kind = "zscore"
metric = "gpu.util_pct"
window = "0s"
min_samples = 1
threshold = 3
"""
    errs = _by_line(text)
    assert "a node metric needs \"fleet\" or \"label:NAME\"" in errs[6]
    assert "unknown metric 'disk.await'" in errs[11]
    assert "did you mean 'disk.await_ms'" in errs[11]
    assert "not per gpu" in errs[17]
    assert "bad status 'UP'" in errs[22]
    assert "'window': must be above 0" in errs[28]
    assert "'min_samples'" in errs[29]
    assert "not used by kind 'zscore'" in errs[30]


def test_unknown_top_level_key() -> None:
    errs = _errors('[rules]\nname = "x"\n')
    assert errs and errs[0][0] == 1 and "unknown top-level key 'rules'" in errs[0][1]


def test_aggregate_scope_and_labels() -> None:
    rules, errors, _ = parse_rules("""
[[rule]]
name = "hottest"
metric = "gpu.temp_c"
scope = "node"
agg = "max"
threshold = 90
labels = { team = "infra" }
match = { zone = "a" }
""")
    assert errors == []
    r = rules[0]
    assert r.scope == Scope.NODE and r.aggregated and r.agg == "max"
    assert r.labels == (("team", "infra"),) and r.match == (("zone", "a"),)
    assert r.describe() == "max(gpu.temp_c) > 90 where zone=a"
    errs = _errors('[[rule]]\nname = "x"\nmetric = "cpu.util_pct"\nthreshold = 1\n'
                   'labels = { node = "n" }\n')
    assert any("'node' is set by the engine" in m for _, m in errs)


def test_files_merge_over_defaults(tmp_path: Path) -> None:
    user = tmp_path / "rules.toml"
    user.write_text("""
[[rule]]
name = "gpu_util_high"
metric = "gpu.util_pct"
threshold = 95
for = "1m"

[[rule]]
name = "gpu_mem_high"
metric = "gpu.mem_used_pct"
threshold = 90
enabled = false

[[rule]]
name = "mine"
metric = "cpu.util_pct"
threshold = 99
""")
    rs = load_rule_set([user])
    rules = {r.name: r for r in rs.rules}
    assert rules["gpu_util_high"].threshold == 95 and rules["gpu_util_high"].source == str(user)
    assert not rules["gpu_mem_high"].enabled
    assert "mine" in rules and "node_not_up" in rules
    assert [r.name for r in rs.rules].index("gpu_util_high") == 0  # replaced in place
    assert "gpu_mem_high" not in {r.name for r in rs.enabled}

    only = tmp_path / "only.toml"
    only.write_text('use_defaults = false\n[[rule]]\nname = "a"\nmetric = "load.1m"\n'
                    'threshold = 8\n')
    assert [r.name for r in load_rule_set([only]).rules] == ["a"]


def test_bad_or_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError) as info:
        load_rules_file(tmp_path / "nope.toml")
    assert "no such file" in str(info.value)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe[[rule]]")
    with pytest.raises(RulesFileError) as info:
        load_rules_file(bad)
    assert "cannot read" in str(info.value)


_tokens = st.sampled_from([
    "[[rule]]\n", "name = \"r\"\n", "metric = \"gpu.util_pct\"\n", "threshold = 5\n",
    "kind = \"zscore\"\n", "kind = \"peer\"\n", "kind = \"node\"\n", "kind = \"joint\"\n",
    "when = [\"net.util_pct > 1\"]\n", "for = \"3m\"\n", "for = -1\n", "op = \"<\"\n",
    "summary = \"{value:.1f} {x}\"\n", "summary = \"{value:%}\"\n", "window = \"1h\"\n",
    "group = \"label:zone\"\n", "statuses = [\"STALE\"]\n", "labels = { a = 1 }\n",
    "scope = \"node\"\n", "agg = \"avg\"\n", "z = 0\n", "[x]\n", "= =\n", "\"\n",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(_tokens, max_size=25))
def test_random_rule_files_never_raise(parts: list[str]) -> None:
    rules, errors, _ = parse_rules("".join(parts), "fuzz.toml")
    for e in errors:
        assert str(e).startswith("fuzz.toml")
    for r in rules:
        assert r.describe()


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    parse_rules(text, "t.toml")


def test_rules_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    from autoglm_tui.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    good = tmp_path / "good.toml"
    good.write_text('[[rule]]\nname = "gpu_util_high"\nmetric = "gpu.util_pct"\n'
                    'threshold = 95\nfor = "1m"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\nmetric = "gpu.util_pct"\nop = ">"\nthreshold = "9"\n')
    assert main(["rules", "check", str(good)]) == 0
    assert "good.toml: OK, 1 rule (1 enabled)" in capsys.readouterr().out
    assert main(["rules", "check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:5: rule 'x': 'threshold' must be a number, not '9'" in out
    assert '5 | threshold = "9"' in out and "bad.toml: 1 error" in out
    assert main(["rules", "check", str(tmp_path / "nope.toml")]) == 1
    assert "no such file" in capsys.readouterr().err

    assert main(["rules", "list", "--rules", str(good)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("gpu_util_high"))
    assert "gpu.util_pct > 95" in line and f"{good}:1" in line and "1m00s" in line
    assert "node_not_up" in out and "gpu_util_anomaly" not in out  # disabled by default
    assert main(["rules", "list", "--all"]) == 0
    assert "gpu_util_anomaly (off)" in capsys.readouterr().out
    assert main(["rules", "list", "--rules", str(bad)]) == 1
    assert "do not load" in capsys.readouterr().err

    user = tmp_path / "config" / "autoglm-tui" / "rules.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[[rule]]\nname = "mine"\nmetric = "load.1m"\nthreshold = 32\n')
    assert main(["rules", "list"]) == 0
    assert "mine" in capsys.readouterr().out
    assert main(["rules", "list", "--no-user-rules"]) == 0
    assert "mine" not in capsys.readouterr().out
