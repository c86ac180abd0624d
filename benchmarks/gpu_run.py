"""Everything that needs a GPU, in one call, into one folder.

    python benchmarks/gpu_run.py --out gpu-results          # on a machine with CUDA: about 8 minutes
    python benchmarks/gpu_run.py --smoke --out /tmp/smoke   # anywhere, on the CPU, tiny shapes: CI

Steps, each in its own process with its own time budget (a step that overruns is interrupted, as
Ctrl-C: its partial report is kept and the summary says it stopped), each writing into ``--out``:

1. ``environment.json``: torch, CUDA, the devices (and ``nvidia-smi``'s table when there is one);
2. ``conformance-cuda/``: the conformance grid on ``cuda`` (``python -m conformance --device cuda``);
3. ``bench-cross-entropy.json``: the cross_entropy benchmark at (4096, 32000) and (8192, 128256),
   every contestant (torch, composed, compile, and the NumPy reference on the CPU at the first);
4. ``scale-cuda/``: the scale profile on ``cuda`` (``--profile scale``: the full production shapes and
   those past 2**31 elements), comparing a sample of each gradient's slices
   (``CONFORMANCE_SCALE_SAMPLE``): the NumPy reference costs about a minute a round at full scale;
5. ``summary.md``: one row per step (exit code, wall time, the verdict line), and ``summary.json``.

``--smoke`` runs the same steps on the CPU at tiny sizes (one function of the grid in float32, the
benchmark's smallest cross_entropy, the scale profile's smoke shapes), so that this script cannot rot
between GPU runs: CI runs it. Exit code: 0 when every step passed, 1 otherwise, 2 when there is no
CUDA device and ``--smoke`` was not given.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def steps(out, smoke):
    """``(name, command, budget in seconds, extra environment)`` of each step."""
    conformance = [sys.executable, "-m", "conformance"]
    bench = [sys.executable, "-m", "pytest", os.path.join(HERE), "-p", "no:cacheprovider", "-q"]
    if smoke:
        return [
            ("conformance", conformance + ["--device", "cpu", "--dtype", "float32", "--function", "mse_loss",
                                           "--report-dir", os.path.join(out, "conformance-cpu")], 300, {}),
            ("bench-cross-entropy", bench + ["--benchmark-disable", "-k",
                                             "cross_entropy and not binary and float32 and cpu and 128 and not 128256"],
             300, {}),
            ("scale", conformance + ["--profile", "scale-smoke", "--report-dir", os.path.join(out, "scale-smoke")],
             300, {}),
        ]
    return [
        ("conformance", conformance + ["--device", "cuda", "-n", "4",
                                       "--report-dir", os.path.join(out, "conformance-cuda")], 120, {}),
        ("bench-cross-entropy", bench + ["--benchmark-only", "--benchmark-max-time=0.1", "--benchmark-min-rounds=3",
                                         f"--benchmark-json={os.path.join(out, 'bench-cross-entropy.json')}",
                                         "--benchmark-columns=median,iqr,rounds",
                                         "-k", "cross_entropy and not binary and (32000 or 128256)"], 150, {}),
        ("scale", conformance + ["--profile", "scale", "--device", "cuda",
                                 "--report-dir", os.path.join(out, "scale-cuda")],
         210, {"CONFORMANCE_SCALE_SAMPLE": "8"}),
    ]


def environment(out):
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
            "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
            "cpu_count": os.cpu_count()}
    if shutil.which("nvidia-smi"):
        info["nvidia-smi"] = subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout
    with open(os.path.join(out, "environment.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    return info


def run_step(name, command, budget, extra, out):
    """Run one step with its budget (``conformance.matrix.run_budgeted``); its output goes to ``<out>/<name>.log``."""
    from conformance.matrix import run_budgeted

    log = os.path.join(out, f"{name}.log")
    code, wall, stopped = run_budgeted(command, budget, log, cwd=ROOT, env={**os.environ, **extra})
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    verdict = next((line for line in reversed(lines) if line.split(":", 1)[0] in
                    ("passed", "failed", "interrupted", "nothing checked")), lines[-1] if lines else "")
    return {"step": name, "command": " ".join(command), "exit": code, "seconds": round(wall, 1),
            "note": f"stopped at its budget of {budget} s" if stopped else None, "verdict": verdict,
            "log": os.path.basename(log)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the folder everything is written into")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny shapes: what CI runs")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)
    info = environment(out)
    if not args.smoke and not info["cuda_available"]:
        print("no CUDA device here: run this on a GPU machine, or with --smoke for the CPU check", file=sys.stderr)
        return 2
    started = time.monotonic()
    results = []
    for name, command, budget, extra in steps(out, args.smoke):
        print(f"{name}: running (budget {budget} s) ...", flush=True)
        result = run_step(name, command, budget, extra, out)
        print(f"{name}: exit {result['exit']} in {result['seconds']} s: {result['verdict']}", flush=True)
        results.append(result)
    total = round(time.monotonic() - started, 1)
    ok = all(r["exit"] == 0 and r["note"] is None for r in results)
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"smoke": args.smoke, "seconds": total, "passed": ok, "environment": info, "steps": results}, f,
                  indent=1)
    rows = [f"| {r['step']} | {r['exit']} | {r['seconds']} s | {r['note'] or r['verdict']} | `{r['log']}` |"
            for r in results]
    devices = ", ".join(info["devices"]) or "no CUDA device"
    with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as f:
        f.write(f"# GPU run{' (smoke, CPU)' if args.smoke else ''}\n\ntorch {info['torch']} (CUDA {info['cuda']}), "
                f"{devices}; {total} s in all.\n\n| step | exit | wall | verdict | log |\n|---|---|---|---|---|\n"
                + "\n".join(rows) + "\n")
    print(f"{'all steps passed' if ok else 'a step failed or stopped'} in {total} s; written to {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
