"""Where services are: --service specs, registration lists, listening sockets, candidates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoglm_tui.cluster.registration import check_services, parse_registration
from autoglm_tui.sampler.services import discovery, sockets
from autoglm_tui.sampler.services.kinds import KINDS, hinted_kind, recognise
from autoglm_tui.sampler.services.sockets import Listener
from autoglm_tui.sampler.services.targets import TargetError, parse_spec

PREFIX = "/autoglm/nodes/"


@pytest.mark.parametrize("spec,url,name,kind", [
    ("8000", "http://127.0.0.1:8000/metrics", None, None),
    ("localhost:30000", "http://localhost:30000/metrics", None, None),
    ("http://10.0.0.5:8002/metrics,name=triton-a,kind=triton",
     "http://10.0.0.5:8002/metrics", "triton-a", "triton"),
    ("https://[::1]:9443/m?x=1,name=s", "https://[::1]:9443/m?x=1", "s", None),
    ("http://h/metrics", "http://h:80/metrics", None, None),
])
def test_service_specs(spec: str, url: str, name: str | None, kind: str | None) -> None:
    t = parse_spec(spec)
    assert (t.url, t.name, t.kind) == (url, name, kind)
    assert parse_spec(t.spec) == t  # the spec round-trips (the agent's unit file repeats it)


@pytest.mark.parametrize("spec,reason", [
    ("ftp://h/x", "only http"),
    ("http://user:pw@h/metrics", "no user or password"),
    ("http://h:99999/", "bad"),
    ("http://h/\x1b[2J", "not a URL"),
    ("http://h/ x", "not a URL"),
    ("8000,name=has space", "bad service name"),
    ("8000,kind=ollama", "unknown kind"),
    ("8000,colour=red", "unknown option"),
    ("8000,name", "expected name="),
])
def test_bad_service_specs_say_why(spec: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason):
        parse_spec(spec)


def _reg(**kw: object) -> bytes:
    base: dict[str, object] = {"node_id": "n1", "hostname": "h", "address": "10.0.0.5",
                               "ssh_port": 22}
    base.update(kw)
    return json.dumps(base).encode()


def test_registration_services_are_validated() -> None:
    reg = parse_registration(PREFIX + "n1", _reg(services=[
        {"url": "http://127.0.0.1:8000/metrics", "name": "chat", "kind": "vllm"},
        {"url": "8080"}]), PREFIX)
    assert [(s.url, s.name, s.kind) for s in reg.services] == [
        ("http://127.0.0.1:8000/metrics", "chat", "vllm"),
        ("http://127.0.0.1:8080/metrics", None, None)]
    again = parse_registration(PREFIX + "n1", json.dumps(reg.to_dict()).encode(), PREFIX)
    assert again.services == reg.services
    assert parse_registration(PREFIX + "n1", _reg(), PREFIX).services == ()
    # A bad entry is left out on its own and named; the node and its good entries stay.
    good = {"url": "http://127.0.0.1:8001/metrics"}
    for bad in ([{"url": "javascript:alert(1)"}], [{"url": "8000", "name": "a b"}],
                [{"url": "8000", "shell": "rm -rf /"}], [{"url": "http://h/\x1b[2J"}],
                [{"url": "8000,name=sneaky"}], [{"url": 8000}]):
        reg = parse_registration(PREFIX + "n1", _reg(services=[good, *bad]), PREFIX)
        assert [s.url for s in reg.services] == [good["url"]], bad
        assert len(reg.problems) == 1 and reg.problems[0].startswith("services[1]: "), bad
        assert "\x1b" not in reg.problems[0]
        assert "problems" not in reg.to_dict()  # never written back as part of the value
        with pytest.raises(ValueError, match=r"services\[0\]"):
            check_services(bad)  # the strict check (the agent's own list) still refuses
    reg = parse_registration(PREFIX + "n1", _reg(services="x"), PREFIX)
    assert reg.services == () and reg.problems == ("services: not a list (str); none kept",)
    reg = parse_registration(PREFIX + "n1", _reg(services=[{"url": "8000"}] * 17), PREFIX)
    assert len(reg.services) == 16 and reg.problems == ("services: 17 entries, the first 16 kept",)


def test_agent_option_puts_services_in_the_registration() -> None:
    from autoglm_tui.cli import build_parser
    from autoglm_tui.commands.agent import _unit_args

    args = build_parser().parse_args(
        ["agent", "--etcd", "127.0.0.1:2379", "--service", "8000,name=chat,kind=vllm",
         "--service", "http://127.0.0.1:8002/metrics"])
    assert [t.url for t in args.service] == ["http://127.0.0.1:8000/metrics",
                                            "http://127.0.0.1:8002/metrics"]
    unit = _unit_args(args)
    assert unit.count("--service") == 2
    assert "http://127.0.0.1:8000/metrics,name=chat,kind=vllm" in unit
    with pytest.raises(SystemExit):
        build_parser().parse_args(["agent", "--etcd", "h:2379", "--service", "javascript:x"])


def test_kinds_are_recognised_by_their_markers_only() -> None:
    for table in KINDS:
        found = recognise(set(table.markers))
        assert found is not None and found.kind == table.kind
    assert recognise({"process_cpu_seconds_total", "up"}) is None
    assert recognise({"num_requests_running"}) is None  # NIM needs all its (generic) markers
    for table in KINDS:  # every table names the file its names come from
        assert table.source and "/" in table.source


def test_command_line_hints_look_at_the_program_not_its_arguments() -> None:
    assert hinted_kind("python3 -m vllm.entrypoints.openai.api_server --model m") == "vllm"
    assert hinted_kind("/usr/local/bin/vllm serve m") == "vllm"
    assert hinted_kind("/opt/llama/llama-server -m m.gguf --metrics") == "llamacpp"
    assert hinted_kind("python -m sglang.launch_server --model-path m") == "sglang"
    assert hinted_kind("text-generation-launcher --model-id m") == "tgi"
    assert hinted_kind("trtllm-serve /models/x") == "trtllm-serve"
    assert hinted_kind("/usr/bin/prometheus --config.file=/tmp/test_vllm/prometheus.yml") is None
    assert hinted_kind("sshd: root@pts/0") is None and hinted_kind("") is None


def test_proc_net_tcp_tables_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = tmp_path / "net"
    net.mkdir()
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt" \
             "   uid  timeout inode\n"
    (net / "tcp").write_text(header + "".join([
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
        "     0        0 1111 1 0000000000000000 100 0 0 10 0\n",
        "   1: 00000000:7530 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
        "     0        0 2222 1 0000000000000000 100 0 0 10 0\n",
        "   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000"
        "     0        0 3333 1 0000000000000000 100 0 0 10 0\n",  # established: not a listener
        "   3: garbage\n",
    ]))
    (net / "tcp6").write_text(header + (
        "   0: 00000000000000000000000000000000:1F4A 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100"
        " 0 0 10 0\n"
        "   1: 00000000000000000000000001000000:22B8 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 100"
        " 0 0 10 0\n"))
    monkeypatch.setattr(sockets, "PROC", str(tmp_path))
    found = sockets.listeners()
    assert [(lst.host, lst.port, lst.inode) for lst in found] == [
        ("127.0.0.1", 8080, 1111), ("0.0.0.0", 30000, 2222), ("::", 8010, 4444),
        ("::1", 8888, 5555)]
    assert [lst.probe_host for lst in found] == ["127.0.0.1", "127.0.0.1", "::1", "::1"]


def test_the_real_proc_lists_a_socket_of_ours_with_its_pid() -> None:
    import os
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        found = [lst for lst in sockets.listeners() if lst.port == port]
        assert len(found) == 1
        assert sockets.owners({found[0].inode}) == {found[0].inode: os.getpid()}


def test_candidates_are_gpu_relatives_and_known_servers_only() -> None:
    parents = {100: 50, 101: 50, 50: 10, 10: 1, 200: 1, 300: 1, 400: 1}
    cmdlines = {
        50: "python3 -m vllm.entrypoints.openai.api_server",
        101: "text-generation-router --port 3000",
        200: "/usr/sbin/sshd -D",
        300: "/opt/llama-server -m x.gguf --metrics",
        400: "postgres",
        10: "bash",
    }
    found = [Listener("0.0.0.0", 8000, 1), Listener("127.0.0.1", 3000, 2),
             Listener("0.0.0.0", 22, 3), Listener("127.0.0.1", 8080, 4),
             Listener("0.0.0.0", 5432, 5), Listener("0.0.0.0", 7000, 6),
             Listener("::", 8000, 7)]
    owner = {1: 50, 2: 101, 3: 200, 4: 300, 5: 400, 6: 99, 7: 50}
    got = discovery.candidates(found, owner, gpu_pids=[100], own_pid=99,
                               parent=parents.get, cmdline=lambda p: cmdlines.get(p, ""))
    assert [(c.pid, c.listener.port, c.gpu, c.hint) for c in got] == [
        (101, 3000, True, "tgi"),  # a sibling of the GPU process
        (50, 8000, True, "vllm"),  # the GPU process's parent, once for both addresses
        (300, 8080, False, "llamacpp"),  # named a known server
    ]  # sshd, postgres and our own socket are never probed
