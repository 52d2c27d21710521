"""Host list parsing: what --hosts and --hosts-file accept, and what they refuse."""

from __future__ import annotations

import pytest

from autoglm_tui.cluster.hosts import (
    HostSpec,
    HostSpecError,
    parse_entry,
    parse_hosts_arg,
    parse_hosts_file,
    read_hosts_file,
)


@pytest.mark.parametrize(
    ("entry", "user", "host", "port", "node_id"),
    [
        ("gpu1", None, "gpu1", None, "gpu1"),
        ("gpu1.example.com", None, "gpu1.example.com", None, "gpu1.example.com"),
        ("ops@gpu1:2222", "ops", "gpu1", 2222, "gpu1:2222"),
        ("root@10.0.0.7", "root", "10.0.0.7", None, "10.0.0.7"),
        ("10.0.0.7:22", None, "10.0.0.7", 22, "10.0.0.7:22"),
        ("::1", None, "::1", None, "::1"),
        ("[::1]", None, "::1", None, "::1"),
        ("ops@[fd00::12]:2200", "ops", "fd00::12", 2200, "[fd00::12]:2200"),
        ("fe80::1%eth0", None, "fe80::1%eth0", None, "fe80::1%eth0"),
        ("gpu_node-7", None, "gpu_node-7", None, "gpu_node-7"),
        ("first.last@host", "first.last", "host", None, "host"),
    ],
)
def test_accepted_entries(
    entry: str, user: str | None, host: str, port: int | None, node_id: str
) -> None:
    spec = parse_entry(entry)
    assert (spec.user, spec.host, spec.port, spec.node_id) == (user, host, port, node_id)


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "$(touch /tmp/owned)",
        "host;rm -rf /",
        "; rm -rf",
        "`id`",
        "host name",
        "-oProxyCommand=sh",
        "host\nother",
        "host\x1b[31m",
        "ho$st",
        "-host",
        "host-",
        "a..b",
        "host:0",
        "host:65536",
        "host:22x",
        "host:-1",
        "999.1.1.1",
        "1.2.3",
        "[::1]x",
        "[::1",
        "[gpu1]:22",
        "fe80::zz",
        "fe80::1%eth0;id",
        "us$er@host",
        "-l@host",
        "user name@host",
        "a" * 64 + ".example.com",
        "x." * 130 + "com",
    ],
)
def test_refused_entries(entry: str) -> None:
    with pytest.raises(HostSpecError):
        parse_entry(entry)


def test_hosts_arg_splits_on_commas_and_names_the_bad_entry() -> None:
    specs = parse_hosts_arg("a@h1:2201, h2 ,[::1]:2203")
    assert [s.node_id for s in specs] == ["h1:2201", "h2", "[::1]:2203"]
    with pytest.raises(HostSpecError, match="entry 2"):
        parse_hosts_arg("h1,$(touch /tmp/owned)")
    with pytest.raises(HostSpecError, match="no hosts"):
        parse_hosts_arg(" , ")


def test_duplicate_node_ids_are_refused() -> None:
    with pytest.raises(HostSpecError, match="already listed"):
        parse_hosts_arg("h1,root@h1")


def test_hosts_file_labels_comments_and_names() -> None:
    text = (
        "# the fleet\n"
        "\n"
        "gpu1.example.com   rack=a1 role=train   # trailing comment\n"
        "ops@10.0.0.12:2222 rack=a2 name=gpu2\n"
        "127.0.0.1:2222 name=bench-0 note=$(touch/tmp/owned)\n"
    )
    specs = parse_hosts_file(text, "f")
    assert specs[0] == HostSpec("gpu1.example.com", "gpu1.example.com", None, None,
                                {"rack": "a1", "role": "train"})
    assert specs[1] == HostSpec("gpu2", "10.0.0.12", 2222, "ops", {"rack": "a2"})
    # A label is data: it is kept verbatim and never used in a command.
    assert specs[2].labels == {"note": "$(touch/tmp/owned)"}
    assert specs[2].node_id == "bench-0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("h1\nh2 rack\n", "line 2: expected key=value"),
        ("h1 rack=a rack=b\n", "given twice"),
        ("h1 bad!key=1\n", "label key"),
        ("h1 name=$(x)\n", "node name"),
        ("h1\n;rm -rf /\n", "line 2"),
        ("h1\nh1\n", "already listed"),
    ],
)
def test_hosts_file_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(HostSpecError, match=message.replace("$", r"\$").replace("(", r"\(")):
        parse_hosts_file(text, "hosts.txt")


def test_read_hosts_file_missing(tmp_path) -> None:
    with pytest.raises(HostSpecError, match="cannot read hosts file"):
        read_hosts_file(str(tmp_path / "nope"))
    path = tmp_path / "hosts"
    path.write_text("h1 rack=a\n")
    assert read_hosts_file(str(path))[0].labels == {"rack": "a"}
