"""The agent's command line, --etcd parsing, its systemd unit and its resources (no etcd)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from autoglm_tui.cli import main
from autoglm_tui.cluster.agent import (
    build_registration,
    default_route_address,
    default_ttl,
    resources_from_static,
    systemd_quote,
    systemd_unit,
)
from autoglm_tui.cluster.etcd_args import (
    PASSWORD_ENV,
    add_etcd_args,
    etcd_config_from_args,
    parse_endpoint,
)
from autoglm_tui.cluster.registration import RegistrationError
from autoglm_tui.model import GpuInfo, HostStatic, NvmlInfo


def etcd_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_etcd_args(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("10.0.0.1:2379", ("10.0.0.1", 2379, False)),
        ("etcd.local", ("etcd.local", 2379, False)),
        ("https://etcd-1:2380/", ("etcd-1", 2380, True)),
        ("[fd00::1]:2379", ("fd00::1", 2379, False)),
    ],
)
def test_parse_endpoint(text: str, expect: tuple[str, int, bool]) -> None:
    assert parse_endpoint(text) == expect


@pytest.mark.parametrize(
    "text", ["", "h:0", "h:99999", "h:x", "fd00::1", "[zz]:1", "-h:1", "a b:1"]
)
def test_parse_endpoint_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(text)


def test_config_from_args_several_endpoints_and_password_from_env() -> None:
    args = etcd_args("--etcd", "a:1,b:2", "--etcd-user", "ops", "--prefix", "/x/nodes/")
    config = etcd_config_from_args(args, environ={PASSWORD_ENV: "s3cret"})
    assert [str(e) for e in config.endpoints] == ["a:1", "b:2"]
    assert config.prefix == "/x/nodes/"
    assert config.user == "ops" and config.password == "s3cret"
    assert "s3cret" not in repr(config) and "s3cret" not in config.describe()
    assert not config.tls
    with pytest.raises(ValueError, match=PASSWORD_ENV):
        etcd_config_from_args(args, environ={})


def test_config_from_args_rejects_bad_values(tmp_path: object) -> None:
    for argv, match in (
        (["--etcd", ""], "at least one"),
        (["--etcd", "a:1", "--prefix", "nodes"], "--prefix"),
        (["--etcd", "a:1", "--etcd-ca", "/nonexistent/ca.pem"], "no such file"),
        (["--etcd", "a:1", "--etcd-user", "bad user"], "--etcd-user"),
    ):
        with pytest.raises(ValueError, match=match):
            etcd_config_from_args(etcd_args(*argv), environ={})


def test_https_endpoint_turns_tls_on() -> None:
    config = etcd_config_from_args(etcd_args("--etcd", "https://e:2379"), environ={})
    assert config.tls


def test_default_ttl_is_three_intervals_at_least_two() -> None:
    assert default_ttl(5) == 15
    assert default_ttl(0.5) == 2
    assert default_ttl(1.1) == 4


def static(**kw: object) -> HostStatic:
    base: dict[str, object] = {
        "hostname": "h",
        "os": "Linux",
        "kernel": "6",
        "cpu_model": "x",
        "cpu_cores_logical": 32,
        "cpu_cores_physical": 16,
        "mem_total_bytes": 64 * 1024**3,
        "swap_total_bytes": 0,
        "boot_time": None,
        "nvml": NvmlInfo(True, driver_version="550"),
        "gpus": (
            GpuInfo(0, "GPU-aaaa-bbbb", "NVIDIA H100 80GB HBM3", 80 * 1024**3),
            GpuInfo(1, "weird uuid\x1b", "\x1b[31mGPU", None),
        ),
        "net_links_mbps": {"eth0": 25000, "eth1": 100000, "docker0": -1},
    }
    base.update(kw)
    return HostStatic(**base)  # type: ignore[arg-type]


def test_resources_from_static_fit_the_registration_schema() -> None:
    resources = resources_from_static(static())
    assert resources["cpu_cores"] == 32
    assert resources["memory_mb"] == 65536
    assert resources["bandwidth_mbps"] == 100000
    assert resources["gpus"][0] == {
        "index": 0,
        "uuid": "GPU-aaaa-bbbb",
        "name": "NVIDIA H100 80GB HBM3",
        "memory_mb": 81920,
    }
    assert resources["gpus"][1]["uuid"] == "gpu1" and "\x1b" not in resources["gpus"][1]["name"]
    reg = build_registration(
        prefix="/autoglm/nodes/",
        node_id="n1",
        address="10.0.0.1",
        ssh_port=22,
        labels={"role": "infer"},
        resources=resources,
        interval_s=5,
        started_at=1.7e9,
        hostname="h",
    )
    assert reg.resources.gpus[0].memory_mb == 81920
    assert len(reg.resources.gpus) == 2
    empty = resources_from_static(static(gpus=(), net_links_mbps={}, mem_total_bytes=0))
    assert empty["gpus"] == [] and empty["bandwidth_mbps"] is None and empty["memory_mb"] is None


def test_build_registration_refuses_what_the_watcher_would_reject() -> None:
    with pytest.raises(RegistrationError, match="address"):
        build_registration(
            prefix="/autoglm/nodes/",
            node_id="n1",
            address="$(id)",
            ssh_port=22,
            labels={},
            resources={},
            interval_s=5,
            started_at=1.7e9,
        )


def _kernel_default_address() -> str | None:
    """What iproute2 says: the first address of the default route's device (IPv4, else
    IPv6 without link-local), or None when there is no default route."""
    import json
    import subprocess

    for family in ("-4", "-6"):
        routes = json.loads(subprocess.run(["ip", "-j", family, "route", "show", "default"],
                                           capture_output=True, text=True, check=True,
                                           timeout=10).stdout or "[]")
        devs = [r["dev"] for r in routes if r.get("dev") and r.get("dev") != "lo"]
        if not devs:
            continue
        links = json.loads(subprocess.run(["ip", "-j", family, "addr", "show", "dev", devs[0]],
                                          capture_output=True, text=True, check=True,
                                          timeout=10).stdout or "[]")
        for link in links:
            for info in link.get("addr_info", []):
                if not str(info.get("local", "")).lower().startswith("fe80"):
                    return str(info["local"])
    return None


def test_default_route_address_is_the_kernels() -> None:
    import shutil

    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed (scripts/test.sh installs it)")
    assert default_route_address() == _kernel_default_address()


def test_systemd_unit_quotes_and_has_no_password() -> None:
    unit = systemd_unit(
        ["--etcd", "e:2379", "--label", "model=Llama 3 70B", "--label", "cost=100%"],
        python="/opt/venv/bin/python",
    )
    assert (
        "ExecStart=/opt/venv/bin/python -m autoglm_tui agent --etcd e:2379 --label "
        '"model=Llama 3 70B" --label "cost=100%%"' in unit
    )
    assert "KillSignal=SIGTERM" in unit and "[Install]" in unit
    assert "PASSWORD=" not in unit.replace("AUTOGLM_ETCD_PASSWORD=...", "")
    assert systemd_quote('a"b$c\\') == '"a\\"b$$c\\\\"'


def test_cli_prints_systemd_unit(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "agent",
            "--etcd",
            "10.0.0.9:2379",
            "--interval",
            "2",
            "--label",
            "role=infer",
            "--print-systemd-unit",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "--etcd 10.0.0.9:2379" in out and "--interval 2" in out and "--label role=infer" in out
    assert out.startswith("# autoglm-tui agent")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["agent"], "--etcd"),
        (["agent", "--etcd", "e:1", "--interval", "5", "--ttl", "4"], "longer than --interval"),
        (["agent", "--etcd", "e:1", "--label", "bad key=x"], "labels"),
        (["agent", "--etcd", "e:1", "--node-id", "../x"], "node id"),
        (["agent", "--etcd", "e:1", "--etcd-user", "u"], PASSWORD_ENV),
    ],
)
def test_cli_rejects_bad_options(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_ttl_below_etcd_minimum(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["agent", "--etcd", "e:1", "--ttl", "1"])
    assert "etcd's minimum is 2" in capsys.readouterr().err


def test_help_lists_every_option() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "autoglm_tui", "agent", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in (
        "--etcd",
        "--prefix",
        "--node-id",
        "--interval",
        "--ttl",
        "--label",
        "--address",
        "--ssh-port",
        "--service-url",
        "--etcd-ca",
        "--etcd-cert",
        "--etcd-key",
        "--etcd-user",
        "--print-systemd-unit",
        PASSWORD_ENV,
    ):
        assert option in out, option
