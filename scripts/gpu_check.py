"""Side by side: what `autoglm-tui sample` reads through NVML against `nvidia-smi -q`, per GPU.

Standard library only (run by scripts/gpu_check.sh on a machine with an NVIDIA GPU). Prints
one table per GPU (field, sampler, nvidia-smi, verdict) and the cost of a sample, then exits 0;
exit 1 when a field that should agree exactly does not, 2 when something could not be run.
Figures that move between two readings (power, temperature, utilisation, clocks, memory used)
are compared with a tolerance. ``--smi-file`` and ``--sampler-file`` take saved outputs instead
of running the tools (for tests and for checking a report someone sent).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autoglm_tui.gpu_codes import clock_reason_words  # noqa: E402

# nvidia-smi's words for the clock-event reason bits
SMI_REASONS = {
    "idle": 0x1, "applications clocks setting": 0x2, "sw power cap": 0x4,
    "hw slowdown": 0x8, "sync boost": 0x10, "sw thermal slowdown": 0x20,
    "hw thermal slowdown": 0x40, "hw power brake slowdown": 0x80,
    "display clock setting": 0x100,
}
_LINE = re.compile(r"^(\s*)([^:]+?)\s*(?::\s*(.*))?$")
_GPU = re.compile(r"^GPU ([0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+\.[0-9A-Fa-f])\s*$")


# ---------------------------------------------------------------- nvidia-smi -q


def parse_smi(text: str) -> list[dict[str, Any]]:
    """Per GPU: a list of (section path, key, value) and the processes, from `nvidia-smi -q`."""
    gpus: list[dict[str, Any]] = []
    gpu: dict[str, Any] | None = None
    stack: list[tuple[int, str]] = []
    proc: dict[str, str] | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.startswith("="):
            continue
        header = _GPU.match(raw)
        if header is not None:  # "GPU 00000000:18:00.0" opens a GPU's section
            gpu = {"bus": header.group(1), "entries": [], "procs": []}
            gpus.append(gpu)
            stack = []
            continue
        m = _LINE.match(raw)
        if m is None:
            continue
        indent, key, value = len(m.group(1)), m.group(2).strip(), m.group(3)
        if gpu is None:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = tuple(name for _, name in stack)
        if value is None or value == "":
            stack.append((indent, key))
            continue
        value = value.strip()
        gpu["entries"].append((path, key, value))
        if path and path[0] == "Processes":
            if key == "Process ID":
                proc = {"pid": value}
                gpu["procs"].append(proc)
            elif proc is not None:
                proc[key] = value
    return gpus


def smi_get(gpu: dict[str, Any], *names: str) -> str | None:
    """The first value whose section path + key ends with `names` (case-insensitive)."""
    want = tuple(n.lower() for n in names)
    for path, key, value in gpu["entries"]:
        full = (*[p.lower() for p in path], key.lower())
        if full[-len(want):] == want:
            return value
    return None


def number(text: str | None) -> float | None:
    if text is None:
        return None
    m = re.search(r"-?\d+(?:\.\d+)?", text)
    return float(m.group(0)) if m else None


def smi_reasons(gpu: dict[str, Any]) -> int | None:
    mask, seen = 0, False
    for path, key, value in gpu["entries"]:
        if not path or not path[0].lower().startswith(("clocks event reasons",
                                                      "clocks throttle reasons")):
            continue
        bit = SMI_REASONS.get(key.lower())
        if bit is not None:
            seen = True
            if value.lower() == "active":
                mask |= bit
    return mask if seen else None


# ---------------------------------------------------------------- the comparison


def rows_for(g: dict[str, Any], info: dict[str, Any], s: dict[str, Any]) -> list[tuple]:
    """(field, sampler value, nvidia-smi value, kind) for one GPU; kind: exact, near(tol), info."""
    def get(*names: str) -> str | None:
        return smi_get(s, *names)

    mib = 1 << 20
    power = (get("GPU Power Readings", "Power Draw")
             or get("GPU Power Readings", "Instantaneous Power Draw")
             or get("GPU Power Readings", "Average Power Draw")
             or get("Power Readings", "Power Draw"))
    limit = get("Current Power Limit") or get("Enforced Power Limit")
    ecc = (get("ECC Errors", "Volatile", "DRAM Uncorrectable")
           or get("ECC Errors", "Volatile", "Double Bit", "Total"))
    reasons = smi_reasons(s)
    remap_pending = get("Remapped Rows", "Pending")
    remap_failed = get("Remapped Rows", "Remapping Failure Occurred")
    retired = [number(get("Retired Pages", "Single Bit ECC")),
               number(get("Retired Pages", "Double Bit ECC"))]
    return [
        ("name", info.get("name"), get("Product Name"), "exact"),
        ("uuid", g.get("uuid"), get("GPU UUID"), "exact"),
        ("PCI bus id", info.get("pci_bus_id"), s["bus"], "bus"),
        ("state", g.get("state"), "ok", "exact"),
        ("util %", g.get("util_pct"), number(get("Utilization", "Gpu")), ("near", 15)),
        ("memory util %", g.get("mem_util_pct"), number(get("Utilization", "Memory")),
         ("near", 15)),
        ("memory used MiB", _div(g.get("mem_used_bytes"), mib),
         number(get("FB Memory Usage", "Used")), ("near", 256)),
        ("memory total MiB", _div(g.get("mem_total_bytes"), mib),
         number(get("FB Memory Usage", "Total")), ("near", 1)),
        ("temperature C", g.get("temp_c"), number(get("Temperature", "GPU Current Temp")),
         ("near", 3)),
        ("power W", g.get("power_w"), number(power), ("near", 25)),
        ("power limit W", g.get("power_limit_w"), number(limit), ("near", 1)),
        ("fan %", g.get("fan_pct"), number(get("Fan Speed")), ("near", 5)),
        ("SM clock MHz", g.get("sm_clock_mhz"), number(get("Clocks", "SM")), ("near", 200)),
        ("PCIe gen now", g.get("pcie_gen"),
         number(get("PCIe Generation", "Current")), "exact"),
        ("PCIe gen max", g.get("pcie_gen_max"), number(get("PCIe Generation", "Max")),
         "exact"),
        ("PCIe width now", g.get("pcie_width"), number(get("Link Width", "Current")),
         "exact"),
        ("PCIe width max", g.get("pcie_width_max"), number(get("Link Width", "Max")), "exact"),
        ("PCIe replays", g.get("pcie_replay"), number(get("Replays Since Reset")), "exact"),
        ("ECC uncorrected (volatile)", g.get("ecc_errors"), number(ecc), "exact"),
        ("rows remapped, correctable", g.get("remap_correctable"),
         number(get("Remapped Rows", "Correctable Error")), "exact"),
        ("rows remapped, uncorrectable", g.get("remap_uncorrectable"),
         number(get("Remapped Rows", "Uncorrectable Error")), "exact"),
        ("row remap pending", g.get("remap_pending"), _yes(remap_pending), "exact"),
        ("row remap failed", g.get("remap_failed"), _yes(remap_failed), "exact"),
        ("retired pages", g.get("retired_pages"),
         None if retired == [None, None] else sum(v or 0 for v in retired), "exact"),
        ("clock-event reasons", _words(g.get("clock_reasons")), _words(reasons), "reasons"),
        ("time at power limit %", g.get("throttle_power_pct"), None, "info"),
        ("time at thermal limit %", g.get("throttle_thermal_pct"), None, "info"),
        ("Xid events watched", g.get("xid_total") is not None, None, "info"),
        ("NVLink links up", g.get("nvlink_links"), None, "info"),
        ("NVLink errors (links with any)", len(g.get("nvlink_errors") or []), None, "info"),
    ]


def _words(mask: int | None) -> str | None:
    if mask is None:
        return None
    return ", ".join(clock_reason_words(mask)) or "none"


def _div(v: Any, d: int) -> float | None:
    return None if v is None else v / d


def _yes(text: str | None) -> int | None:
    if text is None or text.upper() == "N/A":
        return None
    return 1 if text.lower().startswith("yes") else 0


def verdict(ours: Any, theirs: Any, kind: Any) -> str:
    if kind == "info":
        return ""
    if theirs is None:
        return "n/a in nvidia-smi" if ours is None else "(nvidia-smi: N/A)"
    if ours is None:
        return "MISSING here"
    if kind == "bus":
        return "ok" if str(ours).lower().endswith(str(theirs).lower()[-12:]) else "DIFFERS"
    if isinstance(kind, tuple):
        return "ok" if abs(float(ours) - float(theirs)) <= kind[1] else "DIFFERS (moving?)"
    if kind == "reasons":
        return "ok" if ours == theirs else "differs (they change between readings)"
    same = (float(ours) == float(theirs) if isinstance(theirs, float)
            and isinstance(ours, (int, float)) else str(ours) == str(theirs))
    return "ok" if same else "DIFFERS"


def show(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def compare(lines: list[str], smi_text: str) -> int:
    hello = json.loads(lines[0])
    samples = [json.loads(line) for line in lines[1:] if '"type":"sample"' in line[:20]]
    if not samples:
        print("the sampler wrote no sample line")
        return 2
    last = samples[-1]
    nvml = hello["static"]["nvml"]
    print(f"NVML: available={nvml['available']} driver={nvml.get('driver_version')} "
          f"nvml={nvml.get('nvml_version')} reason={nvml.get('reason')}")
    smi = parse_smi(smi_text)
    infos = {g["index"]: g for g in hello["static"]["gpus"]}
    bad = 0
    for g in last["gpus"]:
        info = infos.get(g["index"], {})
        bus = (info.get("pci_bus_id") or "").lower()
        match = [s for s in smi if s["bus"].lower()[-12:] == bus[-12:]] or (
            [smi[g["index"]]] if g["index"] < len(smi) else [])
        print(f"\n## GPU {g['index']} ({info.get('name')}, {bus})")
        if not match:
            print("   no such GPU in nvidia-smi's output")
            bad += 1
            continue
        print(f"   {'field':<32} {'sampler':>22} {'nvidia-smi':>22}  verdict")
        for field, ours, theirs, kind in rows_for(g, info, match[0]):
            v = verdict(ours, theirs, kind)
            bad += v in ("DIFFERS", "MISSING here")
            print(f"   {field:<32} {show(ours)[:22]:>22} {show(theirs)[:22]:>22}  {v}")
        if g.get("error"):
            print(f"   sampler error: {g['error']}")
        ours_p = sorted(p["pid"] for p in last["procs"]
                        if any(u["index"] == g["index"] for u in p["gpus"]))
        theirs_p = sorted(int(p["pid"]) for p in match[0]["procs"] if p["pid"].isdigit())
        same = "ok" if ours_p == theirs_p else "DIFFERS (in a container NVML gives host pids)"
        bad += ours_p != theirs_p
        print(f"   {'processes (pids)':<32} {show(ours_p)[:22]:>22} {show(theirs_p)[:22]:>22}  "
              f"{same}")
        for p in last["procs"]:
            for u in p["gpus"]:
                if u["index"] == g["index"]:
                    smi_p = next((q for q in match[0]["procs"] if q["pid"] == str(p["pid"])), {})
                    print(f"     pid {p['pid']}: GPU memory {show(_div(u['mem_bytes'], 1 << 20))}"
                          f" MiB here, {smi_p.get('Used GPU Memory', '?')} in nvidia-smi; SM "
                          f"{show(u.get('sm_pct'))}%")
    if len(samples) > 1 and samples[0].get("self") and last.get("self"):
        cpu = last["self"]["cpu_time_s"] - samples[0]["self"]["cpu_time_s"]
        span = last["t"] - samples[0]["t"]
        print(f"\nsampler CPU: {1000 * cpu / max(1, len(samples) - 1):.1f} ms per sample "
              f"({100 * cpu / span if span > 0 else 0:.2f}% of a core), RSS "
              f"{last['self']['rss_bytes'] / (1 << 20):.0f} MiB")
    errors = [e for s in samples for e in s.get("errors", [])]
    if errors:
        print("sample errors:", "; ".join(errors[:5]))
    print(f"\n{bad} field(s) that should agree do not" if bad else "\nevery exact field agrees")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smi-file", type=Path, help="a saved `nvidia-smi -q` output")
    parser.add_argument("--sampler-file", type=Path, help="saved sampler lines")
    parser.add_argument("--count", type=int, default=3, help="samples to take (3)")
    args = parser.parse_args()
    if args.sampler_file:
        lines = args.sampler_file.read_text().splitlines()
    else:
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "autoglm_tui", "sample", "--count", str(args.count),
             "--interval", "1", "--collector", "procfs", "--top", "5"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or not done.stdout:
            print(f"the sampler failed ({done.returncode}): {done.stderr[-2000:]}")
            return 2
        lines = done.stdout.splitlines()
        print(f"sampler: {len(lines) - 1} samples in {time.monotonic() - t0:.1f} s")
    if args.smi_file:
        smi_text = args.smi_file.read_text()
    else:
        smi = shutil.which("nvidia-smi")
        if smi is None:
            print("nvidia-smi not found")
            return 2
        smi_text = subprocess.run([smi, "-q"], capture_output=True, text=True,
                                  timeout=120).stdout
        links = subprocess.run([smi, "nvlink", "-e"], capture_output=True, text=True,
                               timeout=60)
        print("nvidia-smi nvlink -e (first lines):")
        print("\n".join(("   " + ln) for ln in links.stdout.splitlines()[:12]) or "   (none)")
    return compare(lines, smi_text)


if __name__ == "__main__":
    raise SystemExit(main())
