"""Measure what the procedural corpus's counted arm actions, circles and bows really do, over a corpus folder
(``moscale data synth``): the numbers behind issue 21's motion requirements.

Usage: python benchmarks/synth_motion_report.py CORPUS [--max-clips N]

Per labelled action (``labels.jsonl`` events and spans, joints from ``new_joints``):

* clap: wrist-to-wrist distance at each clap event (smallest within +-1 frame); wanted < 0.08 m;
* punch: retraction after each strike: the striking fist's forward position (wrist - shoulder, body frame)
  at the strike minus its smallest value before the next strike of that fist (or the span's end);
* wave: each counted swing's excursion: the raised wrist's outward position at the swing minus its smallest
  value since the previous swing (or the hand's raise);
* walk/jog/run_circle: heading change over the action's span, degrees (wanted 330-390 for a full circle);
* bow: the largest forward pitch of the pelvis-to-neck line within each bow (events +-10 frames), degrees
  (wanted >= 30);
* every clip: frames, and the share of frames outside all spans (idle).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def pct(x: list[float]) -> str:
    if not x:
        return "n=0"
    a = np.asarray(x, dtype=np.float64)
    p = np.percentile(a, [0, 5, 50, 95, 100])
    return f"n={len(a)} min {p[0]:.3f} p5 {p[1]:.3f} median {p[2]:.3f} p95 {p[3]:.3f} max {p[4]:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("--max-clips", type=int, default=0)
    args = ap.parse_args()

    from moscale_cli.evaluation.program.signals import L_WRIST, R_WRIST, compute_signals, torso_angles

    root = Path(args.corpus)
    rows = [json.loads(ln) for ln in (root / "labels.jsonl").read_text().splitlines() if ln.strip()]
    if args.max_clips:
        rows = rows[: args.max_clips]
    out: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        j = np.load(root / "new_joints" / f"{row['id']}.npy")
        sig = compute_signals(j)
        T = sig.T
        covered = np.zeros(T, dtype=bool)
        for spec in row["actions"]:
            a, b = spec["span"]
            covered[a:b] = True
            ev = [e for e in spec.get("events", []) if 0 <= e < T]
            name = spec["action"]
            if name == "clap":
                gap = np.linalg.norm(sig.local[:, L_WRIST] - sig.local[:, R_WRIST], axis=-1)
                out["clap wrist gap at event (m)"] += [float(gap[max(e - 1, 0) : e + 2].min()) for e in ev]
            elif name == "punch":
                seq = _punch_sides(spec)
                for k, e in enumerate(ev):
                    s = seq[k]
                    nxt = [ev[i] for i in range(k + 1, len(ev)) if seq[i] == s]
                    end = nxt[0] if nxt else b
                    z = sig.arm(s)[:, 2]
                    out["punch retraction after strike (m)"].append(float(z[e] - z[e:max(end, e + 1)].min()))
            elif name == "wave":
                sides = {"left": (0,), "right": (1,), "both": (0, 1)}[spec.get("side") or "right"]
                for s in sides:
                    x = sig.arm(s)[:, 0]
                    prev = a
                    for e in ev:
                        out["wave swing excursion (m)"].append(float(x[e] - x[prev : e + 1].min()))
                        prev = e
            elif name.endswith("_circle"):
                out[f"{name} heading change (deg)"].append(float(np.degrees(abs(sig.yaw[b - 1] - sig.yaw[a]))))
                if spec.get("angle") is not None:
                    err = abs(np.degrees(abs(sig.yaw[b - 1] - sig.yaw[a])) - spec["angle"])
                    out["circle |heading change - label angle| (deg)"].append(float(err))
            elif name == "bow":
                pitch, _ = torso_angles(sig)
                out["bow torso pitch (deg)"] += [float(np.degrees(pitch[max(e - 10, 0) : e + 11].max())) for e in ev]
        out["clip frames"].append(float(T))
        out["idle share (frames outside spans)"].append(float(1 - covered.mean()))
    for k in sorted(out):
        print(f"{k:48s} {pct(out[k])}")
    corpus_stats(rows)


def corpus_stats(rows: list[dict]) -> None:
    """Clip lengths, counts per length, paces and tempos, natural lengths over the label rows."""
    from moscale_cli.data.synth.program import ActionSpec

    frames = np.array([r["frames"] for r in rows])
    edges = [40, 60, 80, 100, 120, 140, 160, 180, 197]
    hist = np.histogram(frames, bins=edges)[0]
    print("clip length (frames) histogram: " + ", ".join(f"{a}-{b - 1}: {n}" for a, b, n in zip(edges, edges[1:], hist, strict=False)))
    if any("natural_frames" in r for r in rows):
        nat = np.array([r.get("natural_frames", r["frames"]) for r in rows])
        print(f"natural length: {pct(nat.tolist())}; clip / natural: {pct((frames / nat).tolist())}")
        print(f"corr(clip length, natural length) = {np.corrcoef(frames, nat)[0, 1]:.2f}")
    bins = [(40, 80), (80, 120), (120, 160), (160, 197)]
    counted = [(a["count"], r["frames"]) for r in rows for a in r["actions"] if a.get("count") is not None and a["action"] != "side_step"]
    if counted:
        print("counts of counted actions per clip length (frames): count -> " + " | ".join(f"{lo}-{hi - 1}" for lo, hi in bins))
        for c in sorted({c for c, _ in counted}):
            cells = [sum(1 for k, f in counted if k == c and lo <= f < hi) for lo, hi in bins]
            print(f"  count {c}: " + " | ".join(f"{n:5d}" for n in cells))
        cs, fs = np.array(counted).T
        print(f"  corr(count, clip length) = {np.corrcoef(cs, fs)[0, 1]:.2f} over {len(cs)} counted actions")
    paces = [a["pace"] for r in rows for a in r["actions"] if "pace" in a]
    if paces:
        names = {f for f in ActionSpec.__dataclass_fields__} - {"span", "events"}
        tempos = [ActionSpec(**{k: v for k, v in a.items() if k in names}).tempo for r in rows for a in r["actions"]]
        print(f"pace: {pct(paces)}")
        print(f"tempo (speed x style x pace): {pct(tempos)}")


def _punch_sides(spec: dict) -> list[int]:
    n = len(spec.get("events", []))
    side = spec.get("side") or "right"
    if side == "both":
        return [k % 2 for k in range(n)]
    return [0 if side == "left" else 1] * n


if __name__ == "__main__":
    main()
