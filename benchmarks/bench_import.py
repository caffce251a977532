"""Import rate of `moscale data import-bvh` (files/s).

    python benchmarks/bench_import.py                          # the five fixture clips, 1 and 2 workers
    python benchmarks/bench_import.py --src datasets/bandai_raw --limit 400 --workers 2
    python benchmarks/bench_import.py --src datasets/bandai_raw --match raise-up --min-len 12 --workers 2

Links the first ``--limit`` BVH files (and their .json/.txt) of ``--src`` into a temporary folder, imports
them into another temporary folder, and prints files/s, clips/s and seconds of motion per second.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = Path(os.environ.get("MOSCALE_SHARED", ROOT.parent / "shared")) / "fixtures" / "bvh"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--src", type=Path, default=DEFAULT_SRC, help="folder of BVH files (searched recursively)"
    )
    ap.add_argument("--limit", type=int, default=0, help="at most this many files (0 = all)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time")
    ap.add_argument("--repeat", type=int, default=1, help="runs per worker count (best is reported)")
    ap.add_argument("--min-len", type=int, default=40, help="shortest clip kept (frames at 20 fps)")
    ap.add_argument("--match", default="", help="only files whose name contains this text")
    args = ap.parse_args(argv)

    from moscale_cli.data.bvh_import import ImportConfig, find_bvh_files, import_bvh_folder

    files = [p for p in find_bvh_files(args.src) if args.match in p.name]
    if args.limit:
        files = files[: args.limit]
    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for p in files:
            for side in (p, p.with_suffix(".json"), p.with_suffix(".txt")):
                if side.exists():
                    os.symlink(side.resolve(), src / side.name)
        for cfg in (args.src / "cfg", args.src.parent / "cfg"):  # label tables (Bandai-style datasets)
            if cfg.is_dir():
                os.symlink(cfg.resolve(), Path(tmp) / "cfg")
                break
        print(f"{len(files)} BVH files from {args.src}, {os.cpu_count()} CPUs")
        for w in args.workers:
            best = None
            for r in range(args.repeat):
                cfg = ImportConfig(workers=w, min_len=args.min_len)
                res = import_bvh_folder(src, Path(tmp) / f"out_{w}_{r}", cfg)
                best = res if best is None or res.seconds < best.seconds else best
            assert best is not None
            print(
                f"workers={w}: {best.seconds:.2f} s, {best.rate:.1f} files/s, {best.clips / best.seconds:.1f} clips/s, "
                f"{best.frames / 20.0 / best.seconds:.0f} s of motion/s ({best.clips} clips, {len(best.failed)} failed, "
                f"{len(best.skipped)} skipped, {len(best.too_short)} of them too short, {len(best.warnings)} label warnings)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
