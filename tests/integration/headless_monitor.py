"""A monitor without a UI, as a process, for tests that kill it: the real RegistryWatcher feeding
a real Monitor, with the alert pipeline the command line builds (``pipeline_from_args``: rules,
the alert log, Alertmanager, restore on start), ticked every 0.1 s on the wall clock the way the
cluster view's repaint timer does, until it is killed.

    python -m tests.integration.headless_monitor --etcd HOST:PORT --alert-log PATH \\
        [--alertmanager URL] [--rules FILE] [--left-linger S]

It prints ``ready`` once the pipeline is built (the log read back), then runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from autoglm_tui.alerting.cli import add_alert_args, pipeline_from_args
from autoglm_tui.analysis.state import FleetState
from autoglm_tui.cluster.backoff import Backoff
from autoglm_tui.cluster.discovery import RegistryWatcher
from autoglm_tui.cluster.etcd_args import add_etcd_args, etcd_config_from_args
from autoglm_tui.monitor import Monitor


async def run(args: argparse.Namespace) -> None:
    pipeline = pipeline_from_args(args)
    assert pipeline is not None
    monitor = Monitor(FleetState(left_linger_s=args.left_linger))
    pipeline.install(monitor)
    restored = pipeline.restored
    print("ready", restored.describe() if restored else "", flush=True)
    watcher = RegistryWatcher(etcd_config_from_args(args), monitor.apply,
                              backoff=Backoff(base=0.2, cap=0.5))
    tasks = [asyncio.ensure_future(watcher.run()), asyncio.ensure_future(pipeline.run())]
    try:
        while True:
            monitor.tick(time.time())
            await asyncio.sleep(0.1)
    finally:
        await watcher.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pipeline.close(2.0)


def main() -> int:
    parser = argparse.ArgumentParser()
    add_etcd_args(parser, required=True)
    add_alert_args(parser)
    parser.add_argument("--left-linger", type=float, default=120.0)
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
