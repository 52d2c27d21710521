"""cluster/forget.py: an operator's forget from the UI, decided on the cluster side (the etcd
part is tests/integration/test_forget_ui.py, against a real etcd)."""

from __future__ import annotations

import socket

from autoglm_tui.cluster.etcd_config import Endpoint, EtcdConfig
from autoglm_tui.cluster.forget import forget_node
from autoglm_tui.events import Event, NodeForgotten
from autoglm_tui.requests import ForgetNode, HistoryWanted, NodesInView, send, takers


def clock() -> float:
    return 1000.0


async def test_a_listed_host_is_refused_with_what_to_do() -> None:
    emitted: list[Event] = []
    result = await forget_node("h1", etcd=None, listed=lambda n: "the hosts file /etc/h",
                               emit=emitted.append, clock=clock)
    assert not result.done and emitted == []
    assert result.message == ("h1 is listed in the hosts file /etc/h: a listed host stays a "
                              "member; remove it from there and it leaves the table")


async def test_without_a_registry_the_node_is_forgotten_by_this_monitor() -> None:
    emitted: list[Event] = []
    result = await forget_node("gone\x1b[2J", etcd=None, listed=lambda n: None,
                               emit=emitted.append, clock=clock)
    assert result.done and "removed from this monitor" in result.message
    assert "\x1b" not in result.message  # node ids are cleaned before they are shown
    assert emitted == [NodeForgotten(1000.0, "gone\x1b[2J", "forgotten by operator")]


async def test_an_etcd_that_does_not_answer_forgets_nothing() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = EtcdConfig(endpoints=(Endpoint("127.0.0.1", port),), timeout_s=0.5)
    emitted: list[Event] = []
    result = await forget_node("n1", etcd=config, listed=lambda n: None,
                               emit=emitted.append, clock=clock)
    assert not result.done and emitted == []
    assert result.message.startswith(f"etcd 127.0.0.1:{port}: ")
    assert result.message.endswith("nothing was forgotten, try again when etcd answers")


class Taker:
    def __init__(self, takes: tuple[type, ...] | None) -> None:
        if takes is not None:
            self.takes = takes
        self.got: list[object] = []

    def request(self, req: object) -> None:
        self.got.append(req)


def test_send_hands_a_request_only_to_the_sources_that_take_it() -> None:
    everything, focus, forgets, deaf = Taker(None), Taker((NodesInView,)), \
        Taker((ForgetNode,)), object()
    sources = [everything, focus, forgets, deaf]
    req = ForgetNode("n1")
    assert takers(sources, req) == [everything, forgets]
    assert send(sources, req) == 2 and forgets.got == [req] and focus.got == []
    assert send(sources, HistoryWanted("n1")) == 1 and everything.got[-1] == HistoryWanted("n1")


async def test_the_runner_knows_which_hosts_it_was_given() -> None:
    from autoglm_tui.cluster.hosts import HostSpec
    from autoglm_tui.cluster.runner import Runner, RunnerConfig

    emitted: list[Event] = []
    runner = Runner(RunnerConfig(hosts=(HostSpec("h1", "127.0.0.1", 22, None, {}),)),
                    emitted.append)
    refused = await runner.forget("h1")
    assert not refused.done and "listed in --hosts" in refused.message
    gone = await runner.forget("old-node")  # not listed, no registry: this monitor only
    assert gone.done and emitted == [NodeForgotten(emitted[0].t, "old-node",
                                                   "forgotten by operator")]
