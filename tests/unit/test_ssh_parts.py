"""The pure parts of the SSH data path: line splitting, stderr tail, stream decoding, the push
bundle and its bootstrap, host-key decisions, the remote command and the CLI options."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import asyncssh
import pytest

from autoglm_tui import wire
from autoglm_tui.cluster.hosts import HostSpec
from autoglm_tui.cluster.push import BOOTSTRAP, build_bundle, bundle_files, push_command
from autoglm_tui.cluster.source_args import (
    SourceArgsError,
    add_source_args,
    runner_config_from_args,
)
from autoglm_tui.cluster.ssh import PREFERRED_CIPHERS, HostKeyStore, SshOptions, SshTarget
from autoglm_tui.cluster.ssh.connect import connect_kwargs, host_config
from autoglm_tui.cluster.stream import LineSplitter, SamplerStream, StderrTail
from autoglm_tui.events import HelloReceived, NodeInvalid, SampleReceived
from autoglm_tui.model import (
    CpuSample,
    DiskCounters,
    Hello,
    HostStatic,
    MemSample,
    NetCounters,
    NvmlInfo,
    Sample,
)


def _hello() -> str:
    static = HostStatic("n1", "Linux", "6.1", "cpu", 2, 1, 1 << 30, 0, None, NvmlInfo(False, "x"))
    return wire.encode(Hello(1, "n1", "0.1.0", 1.0, static))


def _sample(seq: int) -> str:
    return wire.encode(
        Sample(
            t=1.0 + seq,
            seq=seq,
            cpu=CpuSample(10.0, (10.0, 10.0), None, None),
            mem=MemSample(100, 50, 50, 50.0, 0, 0, None),
            disk=DiskCounters(0, 0, 0, 0, None, None, None),
            net=NetCounters(0, 0, 0, 0, 0, 0, None),
        )
    )


# ---------------------------------------------------------------- LineSplitter


def test_lines_split_across_chunks() -> None:
    split = LineSplitter()
    assert split.feed(b"ab") == []
    assert split.feed(b"c\nde\nf") == [b"abc", b"de"]
    assert split.feed(b"\n") == [b"f"]
    assert split.rest() is None
    split.feed(b"tail")
    assert split.rest() == b"tail"


def test_an_overlong_line_is_dropped_and_the_next_is_kept() -> None:
    split = LineSplitter(max_line=10)
    assert split.feed(b"x" * 8) == []
    assert split.feed(b"x" * 8) == []  # over the cap without a newline: dropped
    assert split.feed(b"yyyy\nok\n") == [b"ok"]
    assert split.feed(b"z" * 11 + b"\nfine\n") == [b"fine"]
    assert split.dropped == 2


# ---------------------------------------------------------------- StderrTail


def test_stderr_tail_keeps_the_last_clean_lines() -> None:
    tail = StderrTail(keep=3)
    tail.feed(b"one\n\x1b[31mtwo\x1b[0m\n\n   \nthree\nfour")
    tail.finish()
    assert list(tail.lines) == ["[31mtwo [0m", "three", "four"]  # ESC is gone
    assert tail.summary() == "four"
    assert not tail.missing_package()


@pytest.mark.parametrize(
    "line",
    [
        b"/usr/bin/python3: No module named autoglm_tui\n",
        b"ModuleNotFoundError: No module named 'autoglm_tui'\n",
        b"/usr/bin/python3: No module named autoglm_tui.__main__; 'autoglm_tui' is a package\n",
    ],
)
def test_missing_package_is_recognised(line: bytes) -> None:
    tail = StderrTail()
    tail.feed(line)
    assert tail.missing_package()


def test_another_missing_module_is_not_the_package() -> None:
    tail = StderrTail()
    tail.feed(b"ModuleNotFoundError: No module named 'autoglm_tui_extra'\n")
    assert not tail.missing_package()


# ---------------------------------------------------------------- SamplerStream


def test_stream_hello_then_samples_and_a_bad_line_is_skipped() -> None:
    stream = SamplerStream("n1")
    assert isinstance(stream.feed(_hello().encode(), 5.0), HelloReceived)
    event = stream.feed(_sample(1).encode(), 6.0)
    assert isinstance(event, SampleReceived) and event.t == 6.0 and event.sample.seq == 1
    assert stream.feed(b'{"type":"sample"}', 7.0) is None
    assert stream.feed(b"\xff\xfe", 7.5) is None
    assert isinstance(stream.feed(_sample(2).encode(), 8.0), SampleReceived)
    assert stream.stats.bad_lines == 2 and stream.stats.samples == 2
    assert stream.invalid is None


def test_stream_that_does_not_start_with_a_hello_is_invalid() -> None:
    stream = SamplerStream("n1")
    event = stream.feed(_sample(1).encode(), 1.0)
    assert isinstance(event, NodeInvalid) and "hello" in event.reason
    assert stream.feed(_hello().encode(), 2.0) is None  # nothing more from this run


def test_unknown_schema_is_invalid_with_the_decoders_reason() -> None:
    event = SamplerStream("n1").feed(b'{"type":"hello","schema":7}', 1.0)
    assert isinstance(event, NodeInvalid)
    assert "unsupported wire schema 7" in event.reason


# ---------------------------------------------------------------- push


def test_bundle_holds_the_sampler_and_nothing_monitor_side() -> None:
    names = set(bundle_files())
    assert {"autoglm_tui/__init__.py", "autoglm_tui/model.py", "autoglm_tui/wire.py",
            "autoglm_tui/text.py", "autoglm_tui/sampler/loop.py", "pynvml.py"} <= names
    assert not any(n.startswith(("autoglm_tui/cluster", "autoglm_tui/tui",
                                 "autoglm_tui/analysis", "autoglm_tui/commands")) for n in names)
    line = build_bundle()
    assert line.endswith(b"\n") and b"\n" not in line[:-1]
    import base64

    with zipfile.ZipFile(BytesIO(base64.b64decode(line))) as zf:
        assert set(zf.namelist()) == names


def test_push_command_is_the_constant_bootstrap() -> None:
    cmd = push_command("/opt/py 3/bin/python3", 0.5)
    words = shlex.split(cmd)
    assert words == ["/opt/py 3/bin/python3", "-u", "-c", BOOTSTRAP, "--interval", "0.5"]


def test_bootstrap_runs_the_sampler_from_stdin_with_a_bare_python(tmp_path: Path) -> None:
    """The bundle alone is enough: a python with no site-packages (-S -I) runs the sampler
    from it, and stops at stdin's EOF."""
    proc = subprocess.Popen(
        [sys.executable, "-S", "-I", "-u", "-c", BOOTSTRAP, "--interval", "0.2",
         "--collector", "procfs"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(build_bundle())
    proc.stdin.flush()
    first = proc.stdout.readline()
    second = proc.stdout.readline()
    proc.stdin.close()  # EOF: the sampler stops
    assert proc.wait(10) == 0, proc.stderr.read() if proc.stderr else ""
    hello = wire.decode(first)
    assert isinstance(hello, Hello) and hello.static.collector == "procfs"
    assert isinstance(wire.decode(second), Sample)
    assert list(tmp_path.iterdir()) == []  # nothing written on the node


# ---------------------------------------------------------------- remote command


def test_default_remote_command_quotes_the_python_and_holds_no_node_data() -> None:
    options = SshOptions(remote_python="/srv/py env/bin/python3", interval_s=2.0)
    assert shlex.split(options.sampler_command(False)) == [
        "/srv/py env/bin/python3", "-m", "autoglm_tui", "sample", "--interval", "2",
    ]
    assert SshOptions(remote_command="my-sampler --x").sampler_command(False) == "my-sampler --x"
    assert BOOTSTRAP in shlex.split(SshOptions().sampler_command(True))


def test_keepalive_follows_the_interval_within_bounds() -> None:
    assert SshOptions(interval_s=1.0).keepalive() == 1.5
    assert SshOptions(interval_s=0.2).keepalive() == 1.0
    assert SshOptions(interval_s=10.0).keepalive() == 3.0
    assert SshOptions(keepalive_interval_s=0.7).keepalive() == 0.7


def _ciphers_offered(tmp_path: Path, ssh_config: str, host: str) -> list[str]:
    """The ciphers a connection to `host` would offer, in order, with this ssh_config."""
    path = tmp_path / "ssh_config"
    path.write_text(ssh_config)
    options = SshOptions(config=(str(path),))
    target = SshTarget(HostSpec(host, host), options,
                       HostKeyStore((str(tmp_path / "known_hosts"),)), asyncio.Semaphore(1))
    kwargs = connect_kwargs(target, None, host_config(target, host, None, None))
    options = asyncssh.SSHClientConnectionOptions(
        config=[str(path)], host=host, known_hosts=target.keys.match, client_keys=None,
        encryption_algs=kwargs.get("encryption_algs", ()),
    )
    return [alg.decode() for alg in options.encryption_algs]


def test_aes_gcm_is_offered_first_and_the_defaults_follow(tmp_path: Path) -> None:
    offered = _ciphers_offered(tmp_path, "", "gpu1")
    assert offered[: len(PREFERRED_CIPHERS)] == list(PREFERRED_CIPHERS)
    assert "chacha20-poly1305@openssh.com" in offered  # still there for servers without GCM
    assert len(offered) == len(set(offered))


def test_a_ciphers_line_in_ssh_config_wins(tmp_path: Path) -> None:
    config = "Host gpu1\n  Ciphers chacha20-poly1305@openssh.com,aes256-ctr\n"
    assert _ciphers_offered(tmp_path, config, "gpu1") == [
        "chacha20-poly1305@openssh.com", "aes256-ctr",
    ]
    assert _ciphers_offered(tmp_path, config, "gpu2")[0] == PREFERRED_CIPHERS[0]


def _compression(tmp_path: Path, ssh_config: str, host: str, hop: bool = False,
                 full_lines: bool = False, **opts: object) -> str | None:
    path = tmp_path / "ssh_config"
    path.write_text(ssh_config)
    options = SshOptions(config=(str(path),), **opts)  # type: ignore[arg-type]
    target = SshTarget(HostSpec(host, host), options,
                       HostKeyStore((str(tmp_path / "known_hosts"),)), full_lines=full_lines)
    kwargs = connect_kwargs(target, None, host_config(target, host, None, None), hop=hop)
    return kwargs.get("compression_algs")


def test_compression_auto_squeezes_full_lines_only(tmp_path: Path) -> None:
    zlib = "zlib@openssh.com,zlib,none"
    assert _compression(tmp_path, "", "gpu1") == "none"  # compact lines: little to gain
    assert _compression(tmp_path, "", "gpu1", full_lines=True) == zlib  # an old sampler
    assert _compression(tmp_path, "", "gpu1", delta=False) == zlib  # --no-delta
    assert _compression(tmp_path, "", "gpu1", compression="on") == zlib
    assert _compression(tmp_path, "", "gpu1", full_lines=True, compression="off") == "none"
    # A Compression line in ssh_config wins over auto (asyncssh reads it), not over on/off.
    config = "Host gpu1\n  Compression no\n"
    assert _compression(tmp_path, config, "gpu1", full_lines=True) is None
    assert _compression(tmp_path, config, "gpu1", compression="on") == zlib
    # A jump host carries the node's encrypted (incompressible) connection.
    assert _compression(tmp_path, "", "jump", hop=True, compression="on") == "none"
    with pytest.raises(ValueError, match="compression"):
        SshOptions(compression="fast")


# ---------------------------------------------------------------- host keys


def _key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519").convert_to_public()


def _line(host: str, key: asyncssh.SSHKey) -> str:
    return f"{host} {key.export_public_key().decode().split()[0]} " \
        f"{key.export_public_key().decode().split()[1]}\n"


def test_known_key_matches_and_other_hosts_do_not(tmp_path: Path) -> None:
    key = _key()
    path = tmp_path / "known_hosts"
    path.write_text(_line("[10.0.0.1]:2222", key) + _line("gpu1", _key()))
    store = HostKeyStore((str(path),))
    assert store.match("10.0.0.1", "10.0.0.1", 2222)[0] == [key]
    assert store.match("10.0.0.1", "10.0.0.1", None)[0] == []  # port 22 is another entry
    assert store.match("10.0.0.2", "10.0.0.2", 2222)[0] == []


def test_unknown_key_is_refused_without_accept_new(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text("")
    ok, why = HostKeyStore((str(path),)).judge("gpu9", "10.0.0.9", None, _key())
    assert not ok and why is not None
    assert "unknown host key for gpu9" in why and "SHA256:" in why
    assert path.read_text() == ""


def test_changed_key_is_refused_even_with_accept_new(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(_line("gpu1", _key()))
    before = path.read_text()
    ok, why = HostKeyStore((str(path),), accept_new=True).judge("gpu1", "10.0.0.1", None, _key())
    assert not ok and why is not None and "HOST KEY CHANGED for gpu1" in why
    assert path.read_text() == before


def test_accept_new_appends_once_and_trusts_it(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "known_hosts"
    store = HostKeyStore((str(path),), accept_new=True)
    key = _key()
    ok, why = store.judge("10.0.0.5", "10.0.0.5", 2200, key)
    assert ok and why is None
    assert path.read_text() == _line("[10.0.0.5]:2200", key)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert store.match("10.0.0.5", "10.0.0.5", 2200)[0] == [key]
    # A second, different key for the same host is now a change.
    ok, why = store.judge("10.0.0.5", "10.0.0.5", 2200, _key())
    assert not ok and why is not None and "CHANGED" in why


def test_default_known_hosts_are_the_users_and_the_systems() -> None:
    store = HostKeyStore()
    assert store.paths == (os.path.expanduser("~/.ssh/known_hosts"), "/etc/ssh/ssh_known_hosts")


# ---------------------------------------------------------------- options


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_source_args(parser)
    return parser.parse_args(argv)


def test_options_make_a_runner_config(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("gpu2 rack=b\n")
    config = runner_config_from_args(_parse([
        "--hosts", "ops@gpu1:2222", "--hosts-file", str(hosts), "--ssh-user", "svc",
        "--ssh-key", "/k1", "--known-hosts", "/kh", "--accept-new-host-keys",
        "--push-sampler", "--interval", "2", "--max-connects", "4",
    ]))
    assert [h.node_id for h in config.hosts] == ["gpu1:2222", "gpu2"]
    assert config.hosts[1].labels == {"rack": "b"}
    assert not config.local and config.etcd is None and config.max_connects == 4
    ssh = config.ssh
    assert (ssh.username, ssh.client_keys, ssh.known_hosts) == ("svc", ("/k1",), ("/kh",))
    assert ssh.accept_new_host_keys and ssh.push == "always" and ssh.interval_s == 2.0
    assert ssh.config is None  # ~/.ssh/config


def test_no_source_means_this_host() -> None:
    config = runner_config_from_args(_parse([]))
    assert config.local and not config.hosts


@pytest.mark.parametrize(
    "argv",
    [
        ["--hosts", "$(touch /tmp/owned)"],
        ["--hosts", "a,a"],
        ["--ssh-user", "root;id"],
        ["--remote-python", "python3; rm -rf /"],
        ["--remote-python=-c"],
        ["--remote-command", "  "],
    ],
)
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SourceArgsError):
        runner_config_from_args(_parse(argv))
