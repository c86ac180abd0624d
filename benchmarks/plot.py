"""Figures and tables from a pytest-benchmark JSON of benchmarks/test_losses.py.

    python benchmarks/plot.py results.json --out benchmarks/results
    python benchmarks/plot.py results.json --compact benchmarks/results/cpu.json
    python benchmarks/plot.py results.json --table "cross_entropy forward+backward (float32, (4096, 32000), cpu)"

One PNG per function: for each dtype a row of time and a row of achieved bandwidth against the
main input's element count, a column per device; one colour per contestant, solid lines for the
forward and dashed for forward + backward; the grey dotted line is the copy bandwidth measured
for the same bytes. ``--compact`` keeps only what the figures and tables need (the full JSON
carries every option and machine detail for each benchmark). Accepts a compact file as input too.
"""

import argparse
import json
import os
from collections import defaultdict

COLORS = {"torch": "tab:blue", "composed": "tab:orange", "compile": "tab:green", "reference": "tab:red",
          "target": "tab:purple"}
STYLES = {"forward": "-", "forward+backward": "--"}
DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("cpu", "cuda")


def load(path):
    """Compact records ``{group, name, median, iqr, rounds, extra}`` from either JSON format."""
    with open(path) as f:
        data = json.load(f)
    if "records" in data:
        return data["machine"], data["records"]
    records = [{"group": b["group"], "name": b["name"], "median": b["stats"]["median"], "iqr": b["stats"]["iqr"],
                "rounds": b["stats"]["rounds"], "extra": b["extra_info"]}
               for b in data["benchmarks"] if b.get("extra_info", {}).get("function")]
    info = data.get("machine_info", {})
    machine = {k: info.get(k) for k in ("node", "processor", "machine", "python_version")}
    machine["cpu"] = info.get("cpu", {}).get("brand_raw")
    machine["datetime"] = data.get("datetime")
    return machine, records


def compact(path, records, machine):
    with open(path, "w") as f:
        json.dump({"machine": machine, "records": records}, f, separators=(",", ":"))


def table(records, group):
    """Markdown rows for one benchmark group, fastest first."""
    rows = sorted((r for r in records if r["group"] == group), key=lambda r: r["median"])
    lines = [f"`{group}`", "", "| contestant | median ms | IQR ms | rounds | GB/s (min bytes) | fraction of copy BW |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        e = r["extra"]
        name = e["contestant"] + (f" ({e['composed']})" if "composed" in e else "")
        lines.append(f"| {name} | {r['median'] * 1e3:.1f} | {r['iqr'] * 1e3:.1f} | {r['rounds']} | "
                     f"{e['achieved_gbps']:.2f} | {e['fraction_of_copy_bw']:.1%} |")
    if rows:
        e = rows[0]["extra"]
        lines.append("")
        lines.append(f"Minimal bytes {e['min_bytes'] / 1e9:.3f} GB; copy bandwidth measured in the same run "
                     f"{e['copy_gbps']:.1f} GB/s; {e['threads']} CPU threads.")
    return "\n".join(lines)


def plot(records, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out, exist_ok=True)
    by_function = defaultdict(list)
    for r in records:
        by_function[r["extra"]["function"]].append(r)
    written = []
    for function, rs in sorted(by_function.items()):
        dtypes = [d for d in DTYPES if any(r["extra"]["dtype"] == d for r in rs)]
        devices = [d for d in DEVICES if any(r["extra"]["device"] == d for r in rs)]
        fig, axes = plt.subplots(2 * len(dtypes), len(devices), figsize=(5.5 * len(devices), 3.2 * 2 * len(dtypes)),
                                 squeeze=False, sharex=True)
        for i, dtype in enumerate(dtypes):
            for j, device in enumerate(devices):
                t_ax, bw_ax = axes[2 * i, j], axes[2 * i + 1, j]
                lines = defaultdict(list)
                copy = defaultdict(dict)
                for r in rs:
                    e = r["extra"]
                    if e["dtype"] == dtype and e["device"] == device:
                        lines[(e["contestant"], e["mode"])].append((e["numel"], r["median"], e["achieved_gbps"]))
                        copy[e["mode"]][e["numel"]] = e["copy_gbps"]
                for (contestant, mode), points in sorted(lines.items()):
                    points.sort()
                    x = [p[0] for p in points]
                    style = dict(color=COLORS.get(contestant, "black"), linestyle=STYLES[mode], marker="o",
                                 markersize=3, label=f"{contestant} {mode}")
                    t_ax.plot(x, [p[1] * 1e3 for p in points], **style)
                    bw_ax.plot(x, [p[2] if p[2] > 0 else float("nan") for p in points], **style)
                for mode, points in copy.items():
                    x = sorted(points)
                    bw_ax.plot(x, [points[n] for n in x], color="grey", linestyle=":", linewidth=1,
                               label=f"copy, same bytes ({mode})" if mode == "forward" else None)
                t_ax.set_title(f"{function} {dtype} {device}: time", fontsize=9)
                bw_ax.set_title(f"{function} {dtype} {device}: GB/s (minimal bytes)", fontsize=9)
                t_ax.set_ylabel("ms")
                bw_ax.set_ylabel("GB/s")
                for ax in (t_ax, bw_ax):
                    ax.set_xscale("log")
                    ax.set_yscale("log")
                    ax.grid(True, which="major", alpha=0.3)
                    ax.tick_params(labelsize=7)
                bw_ax.set_xlabel("elements of the main input", fontsize=8)
        handles, labels = [], []
        for ax in axes.flat:
            for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(h)
                    labels.append(label)
        fig.legend(handles, labels, loc="lower center", ncol=2 * len(devices), fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        path = os.path.join(out, f"{function}.png")
        fig.savefig(path, dpi=60)
        plt.close(fig)
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="pytest --benchmark-json outputs (or --compact files); "
                                                "a later file's result for the same benchmark wins")
    parser.add_argument("--out", help="folder for the PNGs")
    parser.add_argument("--compact", help="write the compact JSON here")
    parser.add_argument("--table", action="append", default=[], help="print a markdown table of this group")
    args = parser.parse_args(argv)
    merged = {}
    for path in args.json:
        machine, records = load(path)
        merged.update({(r["group"], r["name"]): r for r in records})
    records = list(merged.values())
    if args.compact:
        compact(args.compact, records, machine)
    if args.out:
        for path in plot(records, args.out):
            print(path)
    for group in args.table:
        print(table(records, group))
        print()


if __name__ == "__main__":
    main()
