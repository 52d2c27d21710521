"""A latency that went up and stayed up, and what changed at the same moment (seed 3.2).

The question on call is "latency went up: why?". Per service, on the latency the regression
of latency.py follows (P95 or mean; end to end, else time to first token, else time per token),
the last ``after_s`` are compared with what came before. Where they are ``ratio`` times the
earlier median or more, the onset is the start of the final run of points (a running median of
five) above the midway level; the rise must have lasted ``after_s``, have at least ``before_s``
of history before it, and clear the earlier level's 90th percentile, so a latency that swings
(a crest of a wave, a burst) is not a rise. Then each resource the regression reads is compared
across the onset: its median after against its median before (which ends 90 s ahead of the
onset: a server's latency figure covers its last minute, so it crosses midway up to about 70 s
after the cause), in units of its spread before
(MAD, floored at the regression's flat threshold). Those that moved ``shift_z`` spreads and at
least half the step the regression quotes them for are named, most moved first; where none
did, the finding says so, which points away from the node (the request mix, a deploy).
The load the server reports (requests/s, prompt tokens/s, prompt and answer tokens a request,
requests running) is compared the same way; a load figure that rose ``load_ratio`` times is named
first and its step leads (a fall is the slower server's result, not a cause), and where
neither the resources nor the load moved, the finding says that too.
Every median counts each point for the time it stands for: history is coarser further back.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from math import nan as NAN

from autoglm_tui.analysis.diagnosis import names as M
from autoglm_tui.analysis.diagnosis.config import DiagnosisConfig, RiseConfig
from autoglm_tui.analysis.diagnosis.latency import (
    FACTORS,
    MIN_STD,
    WORDS,
    inputs,
    keys_for,
    latency_metrics,
)
from autoglm_tui.analysis.diagnosis.model import Evidence, Finding, Severity
from autoglm_tui.analysis.diagnosis.registry import Analyzer, Context, Window, register
from autoglm_tui.analysis.diagnosis.serving import service_subject
from autoglm_tui.analysis.diagnosis.stats import (
    durations,
    pairs,
    robust_spread,
    running_median,
    weighted_quantile,
)
from autoglm_tui.analysis.diagnosis.words import seconds_words
from autoglm_tui.analysis.history import Key
from autoglm_tui.analysis.node_state import NodeState
from autoglm_tui.analysis.services import family_of
from autoglm_tui.format import clock_time, duration

# Where to look when a resource changed with the latency (the verdict names the change).
LOOK = {
    "cpu": "something took the host CPU at that moment: the node's processes by CPU% show what "
           "started then",
    "mem": "host memory filled at that moment: look for swapping and for the process that grew",
    "gpu_util": "the GPUs got busier at that moment: other work on the same GPUs (the GPU's "
                "processes) or heavier requests",
    "gpu_mem": "GPU memory filled at that moment: another process on the GPU, or larger batches",
    "kv": "the KV cache filled at that moment: longer prompts or more concurrent sequences; "
          "fewer sequences at once or more replicas",
    "queue": "requests started to queue at that moment: more arrive than the server finishes; "
             "add replicas if the load stays",
    "await": "the disk slowed at that moment: swapping, logging or a model reload",
    "net": "the link got busier at that moment: a bulk transfer on the serving link",
}
NOTHING_CHANGED = ("none of the node's resources read here changed with it: look at the request "
                   "mix (prompt and output lengths), the server's logs, and what was deployed "
                   "then")
ONLY_FELL = ("what moved at that moment fell rather than rose: the server waits on something "
             "this monitor does not read (a remote store, a lock, its clients)")
NOT_PROOF = "changing at the same moment is not proof of cause: confirm by undoing that change"
NOTHING_NOR_LOAD = ("neither the node's resources nor the load the server reports changed with "
                    "it: look at the server's logs, what was deployed then (model, version, "
                    "settings), and what it waits on (a remote store, its clients)")


@dataclass(frozen=True, slots=True)
class LoadFigure:
    """A figure of the load a server reports: how its change is said, and where to look."""

    label: str
    digits: int  # decimals shown
    unit: str  # after the second value: 'requests 20 -> 41/s'
    floor: float  # the least spread counted (the figure's noise floor)
    look: str


# The load on a service, compared across a rise's onset like the resources; only a rise counts
# (a server that slowed finishes fewer requests: the load figures that fell are its result).
# Named in this order, the most telling first (more prompt tokens follow from more requests or
# longer prompts).
LOAD = {
    "requests": LoadFigure("requests", 1, "/s", 0.05,
                           "more requests arrived at that moment: the server is past what it "
                           "serves at the old latency; add replicas (see advise) or cap "
                           "concurrency if the load stays"),
    "prompt_length": LoadFigure("prompt length", 0, " tokens", 1.0,
                                "prompts got longer at that moment (the request mix changed): "
                                "each request costs more prefill; find the client that sends "
                                "them, cap prompt length, or add replicas"),
    "output_length": LoadFigure("answer length", 0, " tokens", 1.0,
                                "answers got longer at that moment (more tokens generated a "
                                "request): each request holds its slot longer; find the "
                                "client that asks for them, cap max_tokens, or add replicas"),
    "prompt_tokens": LoadFigure("prompt tokens", 0, "/s", 1.0,
                                "more prompt tokens arrived at that moment (more or longer "
                                "requests): add replicas (see advise) or cap prompt length if "
                                "the load stays"),
    "running": LoadFigure("requests running", 1, "", 0.2,
                          "more requests ran at once from that moment (more clients, or more "
                          "at once from each): the server shares each step among them; add "
                          "replicas (see advise) or cap concurrency"),
}


@dataclass(frozen=True, slots=True)
class Shift:
    """One resource across the onset."""

    factor: str
    before: float
    after: float
    z: float  # (after - before) in spreads of the before part


@dataclass(frozen=True, slots=True)
class Rise:
    """A latency that went up: its level before and after `onset` (a time)."""

    onset: float
    before: float
    after: float
    lasted: float  # seconds from the onset to the last point

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before > 0 else float("inf")


Side = tuple[list[float], list[float]]  # values and the seconds each stands for


def find_rise(ts: list[float], ys: list[float], cfg: RiseConfig, min_rise: float
              ) -> Rise | None:
    """The rise at the end of `ys` (known points on `ts`), or None. Medians count each point
    for the time it stands for (history is coarser further back)."""
    if len(ys) < 2:
        return None
    start, end = ts[0], ts[-1]
    if start > end - cfg.after_s - cfg.before_s:
        return None  # too little history before the part compared
    ws = durations(ts)
    cut = bisect_right(ts, end - cfg.after_s)
    level = weighted_quantile(ys[:cut], ws[:cut], 0.5)
    now = weighted_quantile(ys[cut:], ws[cut:], 0.5)
    if level <= 0 or now < cfg.ratio * level or now - level < min_rise:
        return None  # (a latency of 0 before is no requests: load starting, not a rise)
    mid = (level + now) / 2.0
    smooth = running_median(ys)
    k = len(ys)
    while k > 0 and smooth[k - 1] >= mid:
        k -= 1
    if k == 0:
        return None
    onset = ts[k]
    if end - onset < cfg.after_s or onset - start < cfg.before_s:
        return None
    b = weighted_quantile(ys[:k], ws[:k], 0.5)
    a = weighted_quantile(ys[k:], ws[k:], 0.5)
    if (b <= 0 or a < cfg.ratio * b or a - b < min_rise
            or a <= weighted_quantile(ys[:k], ws[:k], 0.9)):
        return None
    return Rise(onset, b, a, end - onset)


def sides(times: list[float], row: list[float], onset: float, cfg: RiseConfig
          ) -> tuple[Side, Side]:
    """The known values of `row` before the latency's onset and after it, each with the time
    it stands for. A server's latency figure covers its last minute, so it crosses midway up to
    about 70 s after what slowed it: "before" ends ``lead_s`` ahead of the onset. "After"
    starts ``guard_s`` past it (the onset is known to a few seconds)."""
    ts, vs = pairs(times, row)
    ws = durations(ts)
    lo, hi = bisect_left(ts, onset - cfg.lead_s), bisect_left(ts, onset + cfg.guard_s)
    return (vs[:lo], ws[:lo]), (vs[hi:], ws[hi:])


def across(name: str, times: list[float], row: list[float], onset: float, cfg: RiseConfig,
           floor: float) -> Shift | None:
    """`row`'s median before `onset` and after it, and the move in spreads of the level before
    (the spread at least `floor`); None with too few values on either side."""
    before, after = sides(times, row, onset, cfg)
    if len(before[0]) < cfg.min_side_points or len(after[0]) < cfg.min_side_points:
        return None
    b, a = weighted_quantile(*before, 0.5), weighted_quantile(*after, 0.5)
    return Shift(name, b, a, (a - b) / max(robust_spread(*before, b), floor))


def shifts(times: list[float], xs: dict[str, list[float]], onset: float, cfg: RiseConfig
           ) -> tuple[list[Shift], list[str]]:
    """The resources that moved across `onset` (most moved first), and those that did not (or
    had too few values on either side)."""
    moved: list[Shift] = []
    still: list[str] = []
    for name, row in xs.items():
        s = across(name, times, row, onset, cfg, MIN_STD.get(name, 0.0))
        if s is None:
            continue
        if abs(s.z) >= cfg.shift_z and abs(s.after - s.before) >= 0.5 * FACTORS[name].step:
            moved.append(s)
        else:
            still.append(name)
    moved.sort(key=lambda s: -abs(s.z))
    return moved, sorted(still)


def load_keys(sid: str) -> list[Key]:
    """The history keys of a service's load figures."""
    return [(M.SVC_REQUESTS, sid), (M.SVC_PROMPT_TOKENS, sid), (M.SVC_RUNNING, sid),
            (M.SVC_TOKENS, sid)]


def load_inputs(w: Window, sid: str, metric: str) -> dict[str, list[float]]:
    """A service's load figures on the window's time axis (NaN gaps) for a rise of latency
    `metric`. The prompt length is prompt tokens over requests, where both are known and
    requests finished; the answer length, generated tokens over requests, only for an end to
    end latency (a longer answer takes longer, but not longer a token)."""
    out: dict[str, list[float]] = {}
    for name, key in (("requests", M.SVC_REQUESTS), ("prompt_tokens", M.SVC_PROMPT_TOKENS),
                      ("running", M.SVC_RUNNING)):
        row = w.get((key, sid))
        if row is not None:
            out[name] = row
    rps = out.get("requests")
    if rps is None:
        return out
    per_request = [("prompt_length", out.get("prompt_tokens"))]
    if metric in M.END_TO_END:
        per_request.append(("output_length", w.get((M.SVC_TOKENS, sid))))
    for name, tokens in per_request:
        if tokens is not None:
            out[name] = [t / r if r > 0 and t == t else NAN
                         for r, t in zip(rps, tokens, strict=True)]
    return out


def load_shifts(times: list[float], xs: dict[str, list[float]], onset: float, cfg: RiseConfig
                ) -> tuple[list[Shift], list[str]]:
    """The load figures that rose across `onset` (``load_ratio`` times their level before and
    ``shift_z`` spreads; in LOAD's order), and those that stayed (neither rose nor fell so)."""
    rose: list[Shift] = []
    still: list[str] = []
    for name, row in xs.items():
        s = across(name, times, row, onset, cfg, LOAD[name].floor)
        if s is None:
            continue
        if s.z >= cfg.shift_z and s.after >= cfg.load_ratio * s.before:
            rose.append(s)
        elif s.z > -cfg.shift_z or s.after * cfg.load_ratio > s.before:
            still.append(name)
    order = list(LOAD)
    rose.sort(key=lambda s: order.index(s.factor))
    return rose, sorted(still)


def load_words(s: Shift) -> str:
    """'requests 20.0 -> 41.0/s', 'prompt length 210 -> 1,900 tokens'."""
    f = LOAD[s.factor]
    return f"{f.label} {s.before:,.{f.digits}f} -> {s.after:,.{f.digits}f}{f.unit}"


@dataclass(frozen=True, slots=True)
class Busier:
    """A process that took more CPU after the onset than before (% of one core)."""

    pid: int
    name: str
    before: float  # 0 where it was not listed before
    after: float

    def words(self) -> str:
        """'export-batch (pid 4700) 0% -> 640% CPU'."""
        return f"{self.name} (pid {self.pid}) {self.before:.0f}% -> {self.after:.0f}% CPU"


def busier_processes(ctx: Context, node: NodeState, onset: float, cfg: RiseConfig,
                     server: int | None = None) -> list[Busier]:
    """The processes whose CPU rose across `onset` by at least ``proc_cpu_rise`` points of a
    core, most first: where a host's CPU filled, what filled it. The server's own process
    (`server`) and its children are not: they are what slowed."""
    info = node.proc_info
    own = {p.pid for p in family_of(server, tuple(info.values()))}
    pids = sorted(pid for pid in info if pid not in own)
    w = ctx.window(node, [(M.PROC_CPU, pid) for pid in pids], cfg.window_s)
    out: list[Busier] = []
    for (_, pid), row in w.rows.items():
        before, after = sides(w.times, row, onset, cfg)
        if len(after[0]) < cfg.min_side_points:
            continue
        b = weighted_quantile(*before, 0.5) if before[0] else 0.0
        a = weighted_quantile(*after, 0.5)
        if a - b >= cfg.proc_cpu_rise:
            out.append(Busier(pid, info[pid].name, b, a))
    out.sort(key=lambda p: (p.before - p.after, p.pid))
    return out


def value_words(factor: str, v: float) -> str:
    """A resource's level as people say it: '96%', '3.0 queued', '12 ms'."""
    if factor == "queue":
        return f"{v:.1f} queued"
    if factor == "await":
        return f"{v:.0f} ms" if v >= 1 else f"{v:.1f} ms"
    return f"{v:.0f}%"


def change_words(s: Shift) -> str:
    """'CPU 12% -> 96%'."""
    return f"{FACTORS[s.factor].label} {value_words(s.factor, s.before)} -> " \
           f"{value_words(s.factor, s.after)}"


@register
class LatencyRise(Analyzer):
    name = "latency_rise"
    finds = ("latency_rise",)

    def period(self, config: DiagnosisConfig) -> float:
        return config.rise.period_s

    def appear_after(self, config: DiagnosisConfig) -> float:
        return 0.0  # the rise must already have lasted a minute to be one

    def run_node(self, ctx: Context, node: NodeState) -> list[Finding]:
        cfg = ctx.config.rise
        followed = latency_metrics(node)
        if not followed:
            return []
        gpus = ctx.gpus(node)
        out: list[Finding] = []
        for sid in sorted(followed, key=lambda s: (s is not None, s or "")):
            metric = followed[sid]
            lw = ctx.window(node, [(metric, sid)], cfg.window_s)
            y = lw.get((metric, sid))
            if y is None or sum(1 for v in y if v == v) < cfg.min_points:
                continue
            min_rise = cfg.min_rise_token_s if metric in M.PER_TOKEN else cfg.min_rise_s
            rise = find_rise(*pairs(lw.times, y), cfg, min_rise)
            if rise is None:
                continue
            # the resources and the load are read only where the latency rose
            keys = keys_for(sid, gpus, metric) + (load_keys(sid) if sid is not None else [])
            w = ctx.window(node, keys, cfg.window_s)
            moved, still = shifts(w.times, inputs(node, sid, gpus, w), rise.onset, cfg)
            load = (load_shifts(w.times, load_inputs(w, sid, metric), rise.onset, cfg)
                    if sid is not None else ([], []))
            view = node.services.get(sid) if sid is not None else None
            busier = (busier_processes(ctx, node, rise.onset, cfg, view.pid if view else None)
                      if any(s.factor == "cpu" and s.z > 0 for s in moved) else [])
            out.append(self._finding(node, sid, metric, rise, (moved, still), load, busier,
                                     w.covered))
        return out

    @staticmethod
    def _finding(node: NodeState, sid: str | None, metric: str, rise: Rise,
                 resources: tuple[list[Shift], list[str]], load: tuple[list[Shift], list[str]],
                 busier: list[Busier], window: tuple[float, float]) -> Finding:
        moved, still = resources
        load_rose, load_still = load
        _, latency, in_evidence = WORDS[metric]
        who = latency if sid is None else f"{sid} {latency}"
        level = f"{seconds_words(rise.before)} -> {seconds_words(rise.after)}"
        when = clock_time(rise.onset)
        verdict = f"{who} rose {rise.ratio:.1f}x at {when} and stayed up ({level})"
        rose = [s for s in moved if s.z > 0]
        # more requests running follow a slower server (they pile up) as often as they slow
        # it: a cause (named first, its step first) only with more arriving, or where nothing
        # on the node rose too
        arrived = any(s.factor != "running" for s in load_rose)
        drivers = [s for s in load_rose if arrived or not (rose or busier)]
        changes = [load_words(s) for s in drivers] + [change_words(s) for s in moved[:3]]
        if busier:
            more = len(busier) - 1
            changes.append(busier[0].words() + (f" and {more} more process"
                                                f"{'es' if more > 1 else ''}" if more else ""))
        changes += [load_words(s) for s in load_rose if s not in drivers]
        verdict += ("; with it: " + ", ".join(changes) if changes
                    else "; neither the node's resources nor its load changed with it"
                    if load_still else "; no resource read here changed with it")
        ev = [Evidence(in_evidence, rise.after, "s",
                       f"{in_evidence} {level} (median before and after the onset; up for "
                       f"{duration(rise.lasted)} when checked)")]
        ev += [Evidence(LOAD[s.factor].label, s.after, "",
                        f"{load_words(s)} ({s.z:.0f}x its spread before)") for s in load_rose]
        ev += [Evidence(FACTORS[s.factor].label, s.after, "",
                        f"{change_words(s)} ({abs(s.z):.0f}x its spread before)")
               for s in moved]
        ev += [Evidence(f"pid {p.pid}", p.after, "pct", p.words()) for p in busier[:3]]
        if still or load_still:
            ev.append(Evidence("unchanged", None, "", "unchanged: " + ", ".join(
                [FACTORS[k].label for k in still] + [LOAD[k].label for k in load_still])))
        steps: list[str] = [LOAD[drivers[0].factor].look] if drivers else []
        if busier:
            who, it, its = f"{busier[0].name} (pid {busier[0].pid})", "it", "its"
            if len(busier) > 1:
                who, it, its = f"{who} and {len(busier) - 1} more", "them", "their"
            steps.append(f"{who} took the CPU then: move {it} off the serving node, lower {its} "
                         f"priority (renice) or give the server cores of its own")
        elif rose and not drivers:
            steps.append(LOOK[rose[0].factor])
        elif moved and not drivers:
            steps.append(ONLY_FELL)
        if steps:
            steps.append(NOT_PROOF)
        else:
            steps = [NOTHING_NOR_LOAD if load_still else NOTHING_CHANGED]
        return Finding(
            "latency_rise", Severity.WARNING, service_subject(node, sid), verdict, tuple(ev),
            window, tuple(steps), score=min(1.0, (rise.ratio - 1.0) / 4.0),
            data={"service": sid, "metric": metric, "onset": round(rise.onset, 3),
                  "before_s": rise.before, "after_s": rise.after,
                  "ratio": round(rise.ratio, 3), "lasted_s": round(rise.lasted, 1),
                  "changed": [{"factor": s.factor, "before": s.before, "after": s.after,
                               "z": round(s.z, 2)} for s in moved],
                  "unchanged": still,
                  "load": [{"figure": s.factor, "before": s.before, "after": s.after,
                            "z": round(s.z, 2)} for s in load_rose],
                  "load_unchanged": load_still,
                  "processes": [{"pid": p.pid, "name": p.name, "cpu_before": p.before,
                                 "cpu_after": p.after} for p in busier]},
        )
