"""Generate clips and write the synthetic corpus in the HumanML3D layout (+ ``labels.jsonl``).

Every clip is a pure function of ``(seed, index)``: its own RNG, its own program, its own files, so the
corpus is byte-identical for a seed whatever the number of worker processes. The corpus is built in a
hidden sibling folder and renamed into place at the end (an interrupted run leaves no partial corpus).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moscale_cli.data.layout import HELDOUT_TEXTS_DIR
from moscale_cli.data.synth.captions import make_caption_set
from moscale_cli.data.synth.compose import Composed, compose
from moscale_cli.data.synth.program import FPS, MAX_FRAMES, MIN_FRAMES, ActionSpec, Program, sample_program
from moscale_cli.data.synth.timing import min_frames, natural_frames
from moscale_cli.errors import DatasetError, UsageError
from moscale_cli.motion.skeleton import SMPL22
from moscale_cli.utils.atomic import replace_dir, write_json_atomic

SPLIT_FRACTIONS = (("train", 0.80), ("val", 0.05), ("test", 0.15))
ID_PREFIX = "synth_"
CORPUS_VERSION = 3  # 3: clip length drawn independently of the program, idle, pauses, continuous tempo


@dataclass
class Clip:
    name: str
    joints: np.ndarray  # (T, 22, 3) float32, canonical frame (as the features)
    feats: np.ndarray  # (T, 263) float32
    captions: list[tuple[str, str]]  # (caption, tokens)
    program: Program
    contacts: np.ndarray  # (T, 2) bool, planted feet (generator ground truth)
    # held-out phrasings (texts_heldout/, never read for training) and what every caption states
    heldout: list[tuple[str, str]] = field(default_factory=list)  # (caption, tokens)
    caption_info: list[dict] = field(default_factory=list)  # training captions first, then held-out ones
    natural_frames: int = 0  # the program's natural length (timing.natural_frames), feature frames
    still: np.ndarray | None = None  # (T,) idle weight of every frame (1 = idle, 0 = acting)

    def label(self, seed: int, index: int) -> dict:
        return {
            "id": self.name,
            "seed": seed,
            "index": index,
            "frames": int(self.feats.shape[0]),
            "natural_frames": int(self.natural_frames),
            "corpus_version": CORPUS_VERSION,
            "fps": FPS,
            "actions": [a.to_dict() for a in self.program.actions],
            "captions": [c for c, _ in self.captions],
            "heldout_captions": [c for c, _ in self.heldout],
            "caption_info": self.caption_info,
        }


def clip_name(index: int) -> str:
    return f"{ID_PREFIX}{index:06d}"


def read_natural_frames(root: str | os.PathLike) -> dict[str, int]:
    """{clip id: natural_frames} from a corpus folder's ``labels.jsonl`` (corpus v3 rows; {} without the file,
    rows without the field left out). A broken row is a DatasetError naming the line."""
    path = Path(root) / "labels.jsonl"
    if not path.is_file():
        return {}
    out: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row.get("natural_frames") is not None:
                out[str(row["id"])] = int(row["natural_frames"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise DatasetError(f"{path}:{n} is not a label row") from None
    return out


def split_of(name: str, seed: int) -> str:
    """80/5/15 train/val/test by a seeded hash of the clip id."""
    h = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    u = int.from_bytes(h[:8], "little") / 2.0**64
    acc = 0.0
    for split, frac in SPLIT_FRACTIONS:
        acc += frac
        if u < acc:
            return split
    return SPLIT_FRACTIONS[-1][0]


def shorten(program: Program) -> Program:
    """The same actions with shorter durations (x0.7, at least 1.5 s) and counts one lower (at least 1)."""
    acts = []
    for a in program.actions:
        b = ActionSpec(**{k: v for k, v in a.__dict__.items() if k not in ("span", "events")})
        if b.duration is not None:
            b.duration = round(max(1.5, b.duration * 0.7), 2)
        if b.count is not None and b.count > 1:
            b.count -= 1
        acts.append(b)
    return Program(acts)


def draw_program(rng: np.random.Generator) -> Program:
    """A program that fits a clip: one drawn, with up to three lower counts when even its physical minimum is
    over 9.8 s (before any caption is written: the captions say the counts the clip shows), else another."""
    for attempt in range(40):
        prog = sample_program(rng, n_actions=None if attempt < 20 else 1)
        for _ in range(3):
            if min_frames(prog) <= MAX_FRAMES:
                return prog
            prog = shorten(prog)
    raise DatasetError("could not draw a program that fits one clip")  # pragma: no cover


def render_program(program: Program, rng: np.random.Generator, frames: int | None = None) -> Composed:
    """Joints for a given program, ``frames`` feature frames long (default: drawn as the corpus draws it)."""
    return compose(program, rng, frames)


def generate_clip(seed: int, index: int, program: Program | None = None, frames: int | None = None) -> Clip:
    """Clip ``index`` of the corpus of ``seed`` (or the given program rendered with that RNG), ``frames``
    feature frames long (default: drawn independently of the program, from its physical minimum to 9.8 s)."""
    from moscale_cli.motion.features import canonicalize_joints, joints_to_features

    rng = np.random.default_rng([int(seed), int(index)])
    prog = program if program is not None else draw_program(rng)
    lo = min_frames(prog)
    if lo > MAX_FRAMES:
        raise UsageError(f"program is too long for one clip (at least {lo / FPS:.1f} s, at most {MAX_FRAMES / FPS:.1f} s)")
    if frames is not None and not lo <= frames <= MAX_FRAMES:
        raise UsageError(f"a clip of this program takes {lo}..{MAX_FRAMES} frames, got {frames}")
    natural = natural_frames(prog)
    composed = render_program(prog, rng, frames)
    feats = joints_to_features(composed.joints, SMPL22, retarget=False)
    joints = canonicalize_joints(composed.joints, SMPL22)[:-1].astype(np.float32)
    train, heldout = make_caption_set(prog, rng)
    still = composed.still[:-1] if composed.still is not None else None
    return Clip(clip_name(index), joints, feats.astype(np.float32), [(c.text, c.tokens) for c in train], prog,
                composed.contacts[:-1], [(c.text, c.tokens) for c in heldout], [c.info() for c in train + heldout],
                natural, still)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(arr, dtype=np.float32))


def write_clip(root: Path, clip: Clip) -> None:
    _save_npy(root / "new_joint_vecs" / f"{clip.name}.npy", clip.feats)
    _save_npy(root / "new_joints" / f"{clip.name}.npy", clip.joints)
    text = "".join(f"{c}#{t}#0.0#0.0\n" for c, t in clip.captions)
    (root / "texts" / f"{clip.name}.txt").write_text(text, encoding="utf-8")
    if clip.heldout:
        text = "".join(f"{c}#{t}#0.0#0.0\n" for c, t in clip.heldout)
        (root / HELDOUT_TEXTS_DIR / f"{clip.name}.txt").write_text(text, encoding="utf-8")


def _work(args: tuple[str, int, int]) -> tuple[int, str]:
    root, seed, index = args
    clip = generate_clip(seed, index)
    write_clip(Path(root), clip)
    return index, json.dumps(clip.label(seed, index), sort_keys=True)


def check_out(out: str | os.PathLike, overwrite: bool) -> None:
    """Refuse a non-empty OUT (unless overwriting) or a missing parent folder."""
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"{out} is not empty (pass --overwrite to replace it)")
    if not out.parent.exists():
        raise UsageError(f"parent folder {out.parent} does not exist")


def build_corpus(
    out: str | os.PathLike,
    clips: int,
    seed: int = 0,
    workers: int = 2,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write ``clips`` clips to ``out`` (HumanML3D layout + labels.jsonl); returns a summary dict."""
    from moscale_cli.motion.normalize import compute_stats

    if clips < 1:
        raise UsageError("--clips must be at least 1")
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    out = Path(out).resolve()
    check_out(out, overwrite)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        for sub in ("new_joint_vecs", "new_joints", "texts", HELDOUT_TEXTS_DIR):
            (tmp / sub).mkdir(parents=True)
        labels: list[str | None] = [None] * clips
        jobs = [(str(tmp), int(seed), i) for i in range(clips)]
        done = 0
        if workers == 1 or clips < 4:
            results = map(_work, jobs)
            pool = None
        else:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            pool = ctx.Pool(min(workers, clips))
            results = pool.imap_unordered(_work, jobs, chunksize=max(1, min(8, clips // (8 * workers))))
        try:
            for index, label in results:
                labels[index] = label
                done += 1
                if on_progress is not None:
                    on_progress(done, clips)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
        names = [clip_name(i) for i in range(clips)]
        feats = (np.load(tmp / "new_joint_vecs" / f"{n}.npy") for n in names)
        mean, std = compute_stats(feats, SMPL22)
        _save_npy(tmp / "Mean.npy", mean)
        _save_npy(tmp / "Std.npy", std)
        splits: dict[str, list[str]] = {s: [] for s, _ in SPLIT_FRACTIONS}
        for n in names:
            splits[split_of(n, seed)].append(n)
        for s, ids in splits.items():
            (tmp / f"{s}.txt").write_text("".join(i + "\n" for i in ids), encoding="utf-8")
        (tmp / "all.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
        (tmp / "train_val.txt").write_text("".join(n + "\n" for n in splits["train"] + splits["val"]), encoding="utf-8")
        (tmp / "labels.jsonl").write_text("".join(f"{lb}\n" for lb in labels), encoding="utf-8")
        frames = [json.loads(lb)["frames"] for lb in labels if lb is not None]
        summary = {
            "clips": clips,
            "seed": seed,
            "frames": int(sum(frames)),
            "hours": float(sum(frames) / FPS / 3600),
            "splits": {s: len(v) for s, v in splits.items()},
        }
        (tmp / "synth.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        meta = {"kind": "synth", "corpus_version": CORPUS_VERSION, "seed": seed, "clips": clips, "fps": FPS,
                "feature_dim": 263, "min_len": MIN_FRAMES, "splits": summary["splits"]}
        write_json_atomic(tmp / "meta.json", meta)
        replace_dir(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return summary


__all__ = ["ActionSpec", "Clip", "Program", "build_corpus", "clip_name", "generate_clip", "split_of"]
