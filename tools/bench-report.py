#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the raw results of `make bench` into figures.

Usage: tools/bench-report.py [RESULTS_DIR]   (default bench/results)

Reads RESULTS_DIR/raw/main/ and RESULTS_DIR/raw/capped/ (written by the
guest scripts tests/vm/bench/bench-{main,capped}, see
tests/vm/bench/common.sh for the file formats) and writes
RESULTS_DIR/summary.json, RESULTS_DIR/summary.md and RESULTS_DIR/*.png.
Every cc/stock ratio compares figures from the same guest boot.
"""
import glob
import json
import math
import os
import re
import statistics
import sys

MIB = 1 << 20
WORKLOADS = ["randread", "seqwrite", "randrw"]
WL_DESC = {
    "randread": "4 KiB randread QD32",
    "seqwrite": "128 KiB seq write QD16",
    "randrw": "256 KiB 70/30 randrw QD64 x2",
}
# most bytes a workload can have mapped at once: jobs x iodepth x block size
INFLIGHT = {"randread": 32 * 4096, "seqwrite": 16 * 131072, "randrw": 2 * 64 * 262144}
SIZES = [512, 2048, 4096, 16384, 65536, 262144]
FILLS = [0, 50, 90]
THREADS = [1, 2]


def read_env(path):
    env = {}
    if not os.path.exists(path):
        return env
    for line in open(path):
        line = line.strip()
        if "=" not in line or line.startswith("#"):
            continue
        k, v = line.split("=", 1)
        env[k] = v.strip('"')
    return env


def read_kv(path):
    """'name value' lines; 'device PCI k=v ...' lines go to kv['devices']."""
    kv = {"devices": {}}
    if not os.path.exists(path):
        return kv
    for line in open(path):
        parts = line.split()
        if len(parts) < 2:
            continue
        if parts[0] == "device":
            d = {}
            for f in parts[2:]:
                if "=" in f:
                    k, v = f.split("=", 1)
                    try:
                        d[k] = int(v)
                    except ValueError:
                        d[k] = v
            kv["devices"][parts[1]] = d
            continue
        try:
            kv[parts[0]] = float(parts[1]) if "." in parts[1] else int(parts[1])
        except ValueError:
            kv[parts[0]] = parts[1]
    return kv


def delta(before, after, key):
    if key in before and key in after:
        return after[key] - before[key]
    return None


def read_samples(path):
    rows = []
    if not os.path.exists(path):
        return rows
    for line in open(path):
        p = line.split()
        if len(p) < 7:
            continue
        try:
            rows.append([float(p[0])] + [int(x) for x in p[1:7]])
        except ValueError:
            continue
    return rows


def fio_figures(path):
    """iops, bw_kib, errors, io_kib summed over jobs and read+write."""
    try:
        d = json.load(open(path))
    except (OSError, ValueError):
        return None
    out = {"iops": 0.0, "bw_kib": 0.0, "errors": 0, "io_kib": 0}
    for j in d.get("jobs", []):
        out["errors"] += int(j.get("error", 0)) + int(j.get("total_err", 0))
        for k in ("read", "write"):
            out["iops"] += j[k]["iops"]
            out["bw_kib"] += j[k]["bw"]
            out["io_kib"] += j[k]["io_kbytes"]
    out["iops"] = round(out["iops"], 1)
    out["bw_kib"] = int(round(out["bw_kib"]))
    return out


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def fmt(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        if x != 0 and abs(x) < 0.01:
            return "%.2g" % x
        return ("%." + str(nd) + "f") % x
    return str(x)


def fmt_ns(ns):
    if ns is None:
        return "-"
    if ns >= 10000:
        return "%.0f us" % (ns / 1000)
    return "%.2f us" % (ns / 1000)


def fmt_size(n):
    return "%d KiB" % (n // 1024) if n >= 1024 else "%d B" % n


# ---------------------------------------------------------------- parsing

def parse_mapbench(path):
    res, extra = {}, {}
    if not os.path.exists(path):
        return res, extra
    for line in open(path):
        m = dict(re.findall(r"(\w+)=(\S+)", line))
        if "impl" not in m or "size" not in m or "threads" not in m:
            continue
        size, impl = int(m["size"]), m["impl"]
        key = (size, impl, int(m["fill"]), int(m["threads"]))
        if "ns_per_op" in m:
            res[key] = int(m["ns_per_op"])
            extra[key] = {k: int(m[k]) for k in ("min", "max", "failures", "held", "want") if k in m}
        elif "skipped" in line:
            extra[key] = {"skipped": True}
    return res, extra


def fio_runs(raw):
    """tag -> dict(phase, device, workload, impl, fio, before, after, samples)"""
    runs = {}
    for path in sorted(glob.glob(os.path.join(raw, "fio-*.json"))):
        hung = os.path.exists(path[:-5] + ".hung")
        tag = os.path.basename(path)[4:-5]
        parts = tag.split("-")
        if len(parts) != 4:
            continue
        phase, device, wl, impl = parts
        base = path[:-5]
        runs[tag] = {
            "phase": phase, "device": device, "workload": wl, "impl": impl,
            "fio": ({"iops": 0.0, "bw_kib": 0, "errors": None, "io_kib": 0, "hung": True}
                    if hung or not fio_figures(path) else fio_figures(path)),
            "before": read_kv(base + ".before"),
            "after": read_kv(base + ".after"),
            "samples": read_samples(base + ".samples"),
        }
    return runs


def pci_of(meta_env, device, impl):
    # guest facts (tests/vm/run)
    if device == "vblk":
        return "0000:00:06.0"
    return "0000:00:04.0" if impl.startswith("cc") else "0000:00:05.0"


def held_mapped(run, impl, stock_pool):
    """Peak shared bytes held and peak bytes mapped during one fio run."""
    s = run["samples"]
    b, a = run["before"], run["after"]
    if impl.startswith("cc"):
        # per-class high-water marks (reset before the run): exact peaks
        peak = sum(int(k[5:-8]) * v for k, v in a.items()
                   if re.match(r"class\d+_hiwater$", k) and isinstance(v, int))
        if not s or not peak:
            return None
        held = max(r[1] for r in s)
        pci = pci_of(None, run["device"], impl)
        db, da = b["devices"].get(pci, {}), a["devices"].get(pci, {})
        nmaps = da.get("maps", 0) - db.get("maps", 0)
        avg = (da.get("bytes", 0) - db.get("bytes", 0)) / nmaps if nmaps > 0 else 0
        return {"held": held, "mapped": peak, "avg_mapping": int(avg),
                "held_per_mapped": held / peak}
    hw = a.get("stock_hiwater")
    if not hw:
        return None
    mapped = hw * 2048
    return {"held": stock_pool, "mapped": mapped, "held_per_mapped": stock_pool / mapped}


# ---------------------------------------------------------------- report

def build(results):
    raw_main = os.path.join(results, "raw", "main")
    raw_cap = os.path.join(results, "raw", "capped")
    meta = read_env(os.path.join(raw_main, "meta.env"))
    meta_cap = read_env(os.path.join(raw_cap, "meta.env"))
    any_meta = meta or meta_cap
    summary = {
        "kernel": any_meta.get("kernel"),
        "date": any_meta.get("date"),
        "accel": any_meta.get("accel"),
        "guest": "q35, 2 vCPUs, 2 GiB; swiotlb=force (stock serves every device cc_swiotlb does not own)",
        "cc_classes": meta.get("cc_classes"),
        "cc_class_sizes": meta.get("cc_class_sizes"),
        "cc_max_pool_mb": meta.get("cc_max_pool_mb"),
        "stock_pool_bytes": int(meta.get("stock_nslabs", 0)) * 2048 or None,
        "fio_seconds": meta.get("fio_seconds"),
        "workloads": WL_DESC,
    }

    # -- map+unmap
    mb, mb_extra = parse_mapbench(os.path.join(raw_main, "mapbench.log"))
    mu, mu_ratio, mu_fill = {}, {}, {}
    for (size, impl, fill, thr), ns in sorted(mb.items()):
        mu.setdefault(str(size), {}).setdefault(impl, {}).setdefault("fill%d" % fill, {})["threads%d" % thr] = ns
        e = mb_extra.get((size, impl, fill, thr), {})
        if fill and impl != "memcpy" and thr == 1:
            mu_fill.setdefault(str(size), {}).setdefault(impl, {})["fill%d" % fill] = {
                "held": e.get("held"), "want": e.get("want")}
        if e.get("failures"):
            mu_fill.setdefault(str(size), {}).setdefault(impl, {}).setdefault(
                "failures", {})["fill%d.threads%d" % (fill, thr)] = e["failures"]
    for size in SIZES:
        for fill in FILLS:
            for thr in THREADS:
                r = ratio(mb.get((size, "cc", fill, thr)), mb.get((size, "stock", fill, thr)))
                if r is not None:
                    mu_ratio.setdefault(str(size), {}).setdefault("fill%d" % fill, {})["threads%d" % thr] = round(r, 3)
    summary["map_unmap_ns"] = mu
    summary["map_unmap_ratio_cc_stock"] = mu_ratio
    summary["map_unmap_fill_held"] = mu_fill
    summary["map_unmap_skipped"] = sorted("%s.%s" % (k[1], k[0]) for k, e in mb_extra.items()
                                          if e.get("skipped") and k[2] == 0 and k[3] == 1)

    # -- fio, same boot
    runs = fio_runs(raw_main)
    runs_cap = fio_runs(raw_cap)
    stock_pool = summary["stock_pool_bytes"] or 64 * MIB

    def fio_table(rs, phases):
        out = {}
        for r in rs.values():
            if r["phase"] not in phases or not r["fio"]:
                continue
            f = dict(r["fio"])
            f.pop("io_kib", None)
            out.setdefault(r["device"], {}).setdefault(r["workload"], {})[r["impl"]] = f
        for dev in out.values():
            for wl in dev.values():
                if "cc" in wl and "stock" in wl:
                    wl["ratio_iops"] = round(ratio(wl["cc"]["iops"], wl["stock"]["iops"]) or 0, 3)
                for impl in ("cc", "stock"):
                    if wl.get(impl, {}).get("hung"):
                        wl[impl]["note"] = "hung: fio did not finish (killed), no result"
        return out

    summary["fio"] = fio_table(runs, ("main",))
    cap = fio_table(runs_cap, ("cap",))
    for r in runs_cap.values():
        if r["phase"] != "cap" or not r["fio"]:
            continue
        b, a = r["before"], r["after"]
        entry = cap[r["device"]][r["workload"]][r["impl"]]
        if r["impl"] == "cc":
            pci = pci_of(None, r["device"], "cc")
            ex = (a["devices"].get(pci, {}).get("exhausted", 0)
                  - b["devices"].get(pci, {}).get("exhausted", 0))
            entry["exhaustions"] = ex
            entry["exhaustion_events"] = delta(b, a, "exhaustion_events")
        else:
            entry["exhaustions"] = ((delta(b, a, "swiotlb_full_msgs") or 0)
                                    + (delta(b, a, "swiotlb_full_suppressed") or 0))
            entry["exhaustions_note"] = "'swiotlb buffer is full' log lines incl. suppressed (rate-limited: a lower bound)"
    summary["fio_capped"] = cap
    summary["fio_capped_setup"] = "cc: max_pool_mb=4; stock: swiotlb=2048,force (4 MiB, also serving the 9p root and the NIC)"

    # -- memory over time
    mem = read_samples(os.path.join(raw_main, "mem.samples"))
    phases = read_kv(os.path.join(raw_main, "mem.phases"))
    shared = {}
    if mem:
        t0 = mem[0][0]
        bs, be, end = phases.get("burst_start"), phases.get("burst_end"), phases.get("end", mem[-1][0])
        idle = [r[1] for r in mem if bs and r[0] < bs] or [mem[0][1]]
        tail = [r[1] for r in mem if r[0] >= end - 5] or [mem[-1][1]]
        shared["cc"] = {"peak": max(r[1] for r in mem), "settled": int(statistics.mean(tail)),
                        "idle_before": int(statistics.mean(idle)),
                        "settle_seconds_after_burst": round(end - be, 1) if be else None}
        shared["stock"] = {"peak": stock_pool, "settled": stock_pool,
                           "in_use_peak": max(r[3] for r in mem) * 2048,
                           "note": "stock holds its whole fixed pool shared from boot"}
        summary["memory_timeline"] = {
            "t": [round(r[0] - t0, 2) for r in mem],
            "cc_shared": [r[1] for r in mem],
            "cc_slot_bytes_in_use": [r[2] for r in mem],
            "stock_in_use": [r[3] * 2048 for r in mem],
            "burst": [round(bs - t0, 2) if bs else None, round(be - t0, 2) if be else None],
        }
    summary["shared_bytes"] = shared

    # -- conversions per MiB served
    def conv(rs, phase):
        calls = pages = nbytes = 0
        per = {}
        for tag, r in sorted(rs.items()):
            if r["phase"] != phase or r["impl"] != "cc" or r["device"] != "nvme":
                continue
            b, a = r["before"], r["after"]
            pci = pci_of(None, "nvme", "cc")
            nb = a["devices"].get(pci, {}).get("bytes", 0) - b["devices"].get(pci, {}).get("bytes", 0)
            if nb <= 0 and r["fio"]:
                nb = r["fio"]["io_kib"] * 1024
            c, p = delta(b, a, "decrypt_calls") or 0, delta(b, a, "pages_decrypted") or 0
            calls, pages, nbytes = calls + c, pages + p, nbytes + nb
            per[r["workload"]] = {
                "decrypt_calls": c, "pages_decrypted": p, "mib_served": round(nb / MIB, 1),
                "encrypt_calls": delta(b, a, "encrypt_calls"),
                "iops": r["fio"]["iops"] if r["fio"] else None,
            }
        if not nbytes:
            return None
        return {"calls_per_mib": calls / (nbytes / MIB), "pages_per_mib": pages / (nbytes / MIB),
                "mib_served": round(nbytes / MIB, 1), "per_workload": per}

    plain, emu = conv(runs, "main"), conv(runs, "emu")
    conversions = {}
    if plain:
        conversions.update({"calls_per_mib": plain["calls_per_mib"], "pages_per_mib": plain["pages_per_mib"],
                            "plain": plain})
    if emu:
        emu["emulate_call_us"] = meta.get("emu_call_us")
        emu["emulate_page_ns"] = meta.get("emu_page_ns")
        for wl, e in emu["per_workload"].items():
            p = plain and plain["per_workload"].get(wl)
            if p and p.get("iops") and e.get("iops"):
                e["iops_vs_plain"] = round(e["iops"] / p["iops"], 3)
        conversions["emulated"] = emu
    conversions["note"] = ("set_memory_decrypted() calls and pages per MiB mapped through cc_swiotlb on NVMe "
                           "(all fio workloads of the run; MiB from cc_swiotlb's per-device byte counter). "
                           "Stock swiotlb converts its pool once at boot and never again.")
    summary["conversions"] = conversions

    # -- held per mapped at the peak of each workload
    hpm = {}
    for rs in (runs,):
        for tag, r in sorted(rs.items()):
            if r["phase"] not in ("main", "alt"):
                continue
            x = held_mapped(r, r["impl"], stock_pool)
            if not x:
                continue
            x["inflight_max"] = INFLIGHT[r["workload"]]
            x["held_per_inflight_max"] = round(x["held"] / x["inflight_max"], 2)
            x["held_per_mapped"] = round(x["held_per_mapped"], 2)
            hpm.setdefault(r["impl"], {})["%s.%s" % (r["device"], r["workload"])] = x
    held_per_mapped = {}
    for impl, per in hpm.items():
        vals = [(v["held_per_inflight_max"], k) for k, v in per.items()]
        slots = [(v["held_per_mapped"], k) for k, v in per.items() if v.get("held_per_mapped")]
        if not vals:
            continue
        worst = max(vals)
        held_per_mapped[impl] = {"peak": round(worst[0], 2), "worst_workload": worst[1],
                                 "peak_per_slot_bytes_in_use": round(max(slots)[0], 2) if slots else None,
                                 "per_workload": per}
    held_per_mapped["note"] = ("peak = peak shared bytes held / the most bytes the workload can have mapped "
                               "(jobs x iodepth x block size): a lower bound of held per byte actually mapped. "
                               "held_per_mapped per workload = peak held / peak slot bytes in use. cc: held = "
                               "peak shared_bytes (4 Hz samples; slots in use + free slots kept ahead of "
                               "demand), in use = sum over classes of the class high-water mark (reset "
                               "before the run) x slot size; stock: held = its whole pool, in use = "
                               "io_tlb_used_hiwater x 2 KiB. Both count slot bytes (coherent allocations "
                               "included for cc, other devices' traffic for stock), so bytes truly mapped "
                               "are somewhat lower and the true ratios somewhat higher.")
    summary["held_per_mapped"] = held_per_mapped

    summary["targets"] = targets(summary)
    return summary


def targets(s):
    out = []

    def add(name, target, value, ok):
        out.append({"target": name, "goal": target,
                    "value": None if value is None else (round(value, 3) if isinstance(value, float) else value),
                    "met": None if value is None else bool(ok)})

    r = s.get("map_unmap_ratio_cc_stock", {})
    for size, goal in ((512, 0.35), (4096, 0.6), (65536, 0.95)):
        v = r.get(str(size), {}).get("fill0", {}).get("threads1")
        add("map+unmap %s cc/stock (1 thread, fill 0)" % fmt_size(size), "<= %.2f" % goal, v,
            v is not None and v <= goal)
    # flat with fill: cc's ns/op at 50/90% within 20% of its 0% figure
    worst, where = None, None
    for size, d in s.get("map_unmap_ns", {}).items():
        cc = d.get("cc", {})
        base = cc.get("fill0", {}).get("threads1")
        for f in ("fill50", "fill90"):
            v = cc.get(f, {}).get("threads1")
            if base and v:
                q = v / base
                if worst is None or q > worst:
                    worst, where = q, "%s %s" % (fmt_size(int(size)), f)
    add("map+unmap cc flat with fill (worst fill50/90 vs fill0, 1 thread%s)" % (", " + where if where else ""),
        "<= 1.20", worst, worst is not None and worst <= 1.2)
    for key, goal, label in (("fio", 1.0, "fio cc/stock IOPS, every workload (worst)"),
                             ("fio_capped", 1.2, "fio at 4 MiB cap cc/stock IOPS (worst)")):
        vals = []
        for dev, wls in s.get(key, {}).items():
            for wl, x in wls.items():
                if x.get("ratio_iops"):
                    vals.append((x["ratio_iops"], "%s %s" % (dev, wl)))
        v = min(vals) if vals else None
        add(label + (" [%s]" % v[1] if v else ""), ">= %.1f" % goal, v[0] if v else None,
            v is not None and v[0] >= goal)
    sb = s.get("shared_bytes", {})
    if sb.get("cc") and sb.get("stock"):
        q = sb["cc"]["settled"] / sb["stock"]["settled"]
        add("settled shared memory cc / stock pool", "<= 0.125", q, q <= 0.125)
    h = s.get("held_per_mapped", {}).get("cc")
    add("shared held per byte mapped at peak, default classes (worst workload%s)" %
        (", " + h["worst_workload"] if h else ""), "<= 1.5", h["peak"] if h else None,
        h is not None and h["peak"] <= 1.5)
    return out


# ---------------------------------------------------------------- markdown

def markdown(s):
    L = []
    L.append("# cc_swiotlb vs stock swiotlb")
    L.append("")
    L.append("Kernel %s, %s, %s; %s. cc_swiotlb classes=%s (%s), max_pool_mb=%s; stock pool %s MiB. "
             "fio runs of %s s. Every ratio is cc/stock from the same boot (`make bench`, tools/bench.sh)."
             % (s.get("kernel"), s.get("accel"), s.get("date"), s.get("guest"), s.get("cc_classes"),
                s.get("cc_class_sizes"), s.get("cc_max_pool_mb"),
                (s.get("stock_pool_bytes") or 0) // MIB, s.get("fio_seconds")))
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | goal | measured | met |")
    L.append("|---|---|---|---|")
    for t in s["targets"]:
        met = "-" if t["met"] is None else ("yes" if t["met"] else "**no**")
        L.append("| %s | %s | %s | %s |" % (t["target"], t["goal"], fmt(t["value"]), met))
    L.append("")

    mu, mr = s.get("map_unmap_ns", {}), s.get("map_unmap_ratio_cc_stock", {})
    if mu:
        L.append("## map+unmap (dma_map_single + dma_unmap_single, DMA_BIDIRECTIONAL, NVMe), median ns/op")
        L.append("")
        L.append("Fill: stock holds fill% of its whole pool, cc fill% of the current slots of the size's class "
                 "(see tools/bench-module/ccs_bench.c). memcpy = the same size copied both ways.")
        L.append("")
        for thr in THREADS:
            L.append("| %d thread%s | cc 0%% | stock 0%% | memcpy | cc/stock 0%% | cc/stock 50%% | cc/stock 90%% | cc 90%% | stock 90%% |"
                     % (thr, "s" if thr > 1 else ""))
            L.append("|---|---|---|---|---|---|---|---|---|")
            for size in SIZES:
                d = mu.get(str(size), {})
                g = lambda impl, f: d.get(impl, {}).get("fill%d" % f, {}).get("threads%d" % thr)
                rr = lambda f: mr.get(str(size), {}).get("fill%d" % f, {}).get("threads%d" % thr)
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    fmt_size(size), fmt_ns(g("cc", 0)), fmt_ns(g("stock", 0)), fmt_ns(g("memcpy", 0)),
                    fmt(rr(0)), fmt(rr(50)), fmt(rr(90)), fmt_ns(g("cc", 90)), fmt_ns(g("stock", 90))))
            L.append("")
        if s.get("map_unmap_skipped"):
            L.append("Not mappable at all (skipped): %s." % ", ".join(s["map_unmap_skipped"]))
            L.append("")

    def fio_md(title, tab, capped):
        if not tab:
            return
        L.append("## " + title)
        L.append("")
        hdr = "| device | workload | cc IOPS | stock IOPS | cc/stock | cc MiB/s | stock MiB/s | errors cc/stock |"
        sep = "|---|---|---|---|---|---|---|---|"
        if capped:
            hdr += " exhaustions cc/stock |"
            sep += "---|"
        L.append(hdr)
        L.append(sep)
        for dev in ("nvme", "vblk"):
            for wl in WORKLOADS:
                x = tab.get(dev, {}).get(wl)
                if not x:
                    continue
                cc, st = x.get("cc", {}), x.get("stock", {})
                row = "| %s | %s | %s | %s | %s | %s | %s | %s/%s |" % (
                    dev, WL_DESC[wl], fmt(cc.get("iops"), 0), fmt(st.get("iops"), 0), fmt(x.get("ratio_iops")),
                    fmt(cc["bw_kib"] / 1024, 1) if cc else "-", fmt(st["bw_kib"] / 1024, 1) if st else "-",
                    "HUNG" if cc.get("hung") else cc.get("errors", "-"),
                    "HUNG" if st.get("hung") else st.get("errors", "-"))
                if capped:
                    row += " %s/%s |" % (cc.get("exhaustions", "-"), st.get("exhaustions", "-"))
                L.append(row)
        L.append("")

    fio_md("fio, default sizes (stock: 64 MiB pool)", s.get("fio"), False)
    fio_md("fio, both capped at 4 MiB", s.get("fio_capped"), True)
    if s.get("fio_capped"):
        L.append("Exhaustions: cc = mappings refused for lack of a slot (per-device counter); stock = "
                 "'swiotlb buffer is full' messages including suppressed ones (rate-limited, a lower bound).")
        L.append("")

    sb = s.get("shared_bytes", {})
    if sb.get("cc"):
        L.append("## Shared memory (idle -> burst -> idle)")
        L.append("")
        L.append("| | idle before | peak | settled (%s s after the burst) |" % sb["cc"].get("settle_seconds_after_burst"))
        L.append("|---|---|---|---|")
        L.append("| cc_swiotlb | %.1f MiB | %.1f MiB | %.1f MiB |" % (
            sb["cc"]["idle_before"] / MIB, sb["cc"]["peak"] / MIB, sb["cc"]["settled"] / MIB))
        L.append("| stock | %.1f MiB | %.1f MiB (in use at most %.1f MiB) | %.1f MiB |" % (
            sb["stock"]["peak"] / MIB, sb["stock"]["peak"] / MIB, sb["stock"]["in_use_peak"] / MIB,
            sb["stock"]["settled"] / MIB))
        L.append("")
        L.append("![memory](memory.png)")
        L.append("")

    c = s.get("conversions", {})
    if c.get("plain") or c.get("emulated"):
        L.append("## Conversions (set_memory_decrypted) per MiB served, cc_swiotlb on NVMe")
        L.append("")
        L.append("| run | MiB served | calls/MiB | pages/MiB | IOPS per workload (randread/seqwrite/randrw) |")
        L.append("|---|---|---|---|---|")
        for name in ("plain", "emulated"):
            x = c.get(name)
            if not x:
                continue
            label = name if name == "plain" else "emulated cost (%s us/call, %s ns/page)" % (
                x.get("emulate_call_us"), x.get("emulate_page_ns"))
            iops = "/".join(fmt(x["per_workload"].get(w, {}).get("iops"), 0) for w in WORKLOADS)
            L.append("| %s | %s | %s | %s | %s |" % (label, x["mib_served"], fmt(x["calls_per_mib"], 3),
                                                    fmt(x["pages_per_mib"], 2), iops))
        L.append("")

    h = s.get("held_per_mapped", {})
    impls = [k for k in h if k != "note"]
    if impls:
        L.append("## Shared bytes held per byte mapped, at the peak of each workload")
        L.append("")
        L.append("| impl | worst | " + " | ".join("%s" % k for k in
                 sorted({k for i in impls for k in h[i]["per_workload"]})) + " |")
        keys = sorted({k for i in impls for k in h[i]["per_workload"]})
        L.append("|---|---|" + "---|" * len(keys))
        for i in sorted(impls):
            per = h[i]["per_workload"]
            L.append("| %s | %s | %s |" % (i, fmt(h[i]["peak"]), " | ".join(
                ("%s (%.1f MiB held / %.2f MiB in flight max; %s per slot byte in use)" % (
                    fmt(per[k]["held_per_inflight_max"]), per[k]["held"] / MIB, per[k]["inflight_max"] / MIB,
                    fmt(per[k]["held_per_mapped"]))) if k in per else "-" for k in keys)))
        L.append("")
        L.append(h["note"])
        L.append("")
    L.append("Plots: ![map+unmap](map_unmap.png) ![fio](fio.png)")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- plots

def plots(s, results):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench-report: no matplotlib, no plots")
        return
    dpi = 72
    mu = s.get("map_unmap_ns", {})
    if mu:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        ax = axes[0]
        for impl, style in (("cc", "o-"), ("stock", "s-"), ("memcpy", "^--")):
            xs, ys = [], []
            for size in SIZES:
                v = mu.get(str(size), {}).get(impl, {}).get("fill0", {}).get("threads1")
                if v:
                    xs.append(size)
                    ys.append(v / 1000)
            if xs:
                ax.plot(xs, ys, style, label=impl)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("mapping size (bytes)")
        ax.set_ylabel("us per map+unmap (1 thread, fill 0)")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        ax = axes[1]
        mr = s.get("map_unmap_ratio_cc_stock", {})
        for fill in FILLS:
            for thr in THREADS:
                xs, ys = [], []
                for size in SIZES:
                    v = mr.get(str(size), {}).get("fill%d" % fill, {}).get("threads%d" % thr)
                    if v:
                        xs.append(size)
                        ys.append(v)
                if xs:
                    ax.plot(xs, ys, "o-" if thr == 1 else "x--", label="fill %d%%, %dT" % (fill, thr))
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("mapping size (bytes)")
        ax.set_ylabel("cc / stock")
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(results, "map_unmap.png"), dpi=dpi)
        plt.close(fig)

    labels, normal, capped = [], [], []
    for dev in ("nvme", "vblk"):
        for wl in WORKLOADS:
            a = s.get("fio", {}).get(dev, {}).get(wl, {}).get("ratio_iops")
            b = s.get("fio_capped", {}).get(dev, {}).get(wl, {}).get("ratio_iops")
            if a or b:
                labels.append("%s\n%s" % (dev, wl))
                normal.append(a or 0)
                capped.append(b or 0)
    if labels:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        x = range(len(labels))
        ax.bar([i - 0.2 for i in x], normal, 0.4, label="default sizes")
        ax.bar([i + 0.2 for i in x], capped, 0.4, label="both capped at 4 MiB")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("IOPS cc / stock")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(results, "fio.png"), dpi=dpi)
        plt.close(fig)

    tl = s.get("memory_timeline")
    if tl:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.plot(tl["t"], [v / MIB for v in tl["cc_shared"]], label="cc_swiotlb shared (held)")
        ax.plot(tl["t"], [v / MIB for v in tl["cc_slot_bytes_in_use"]], lw=0.8, label="cc_swiotlb slots in use")
        pool = (s.get("stock_pool_bytes") or 0) / MIB
        ax.plot(tl["t"], [pool] * len(tl["t"]), label="stock pool (held)")
        ax.plot(tl["t"], [v / MIB for v in tl["stock_in_use"]], lw=0.8, label="stock in use")
        b = tl.get("burst") or [None, None]
        if b[0] is not None and b[1] is not None:
            ax.axvspan(b[0], b[1], color="orange", alpha=0.15, label="burst (randrw on both)")
        ax.set_xlabel("seconds")
        ax.set_ylabel("MiB")
        ax.set_yscale("symlog", linthresh=1)
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(results, "memory.png"), dpi=dpi)
        plt.close(fig)


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "bench/results"
    s = build(results)
    tl = s.pop("memory_timeline", None)
    with open(os.path.join(results, "summary.json"), "w") as f:
        json.dump(s, f, indent=1, sort_keys=False)
        f.write("\n")
    s["memory_timeline"] = tl
    plots(s, results)
    with open(os.path.join(results, "summary.md"), "w") as f:
        f.write(markdown(s))
    print("bench-report: wrote %s/summary.json, summary.md and plots" % results)


if __name__ == "__main__":
    main()
