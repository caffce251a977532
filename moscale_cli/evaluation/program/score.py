"""Score one motion against its program (:func:`score_clip`) and summarise many (:func:`summarize`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from moscale_cli.data.synth.vocabulary import VOCABULARY
from moscale_cli.errors import MoScaleError
from moscale_cli.evaluation.program.detectors import DETECTORS, posture_at
from moscale_cli.evaluation.program.segment import Cues, cut_program
from moscale_cli.evaluation.program.signals import compute_signals
from moscale_cli.evaluation.program.table import (
    ATTRIBUTES,
    FULL_CIRCLE_DEGREES,
    applies,
    caption_meta,
    caption_phrases,
    expected,
    is_circle,
    matches,
)

POSTURE_FRAMES = 3  # frames at each end of the clip whose majority posture is the start / end posture
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Check:
    """One attribute of one action (or of the clip): pass / fail / n/a with what was measured and wanted."""

    attribute: str
    status: str  # "pass" | "fail" | "n/a"
    measured: Any = None
    expected: Any = None
    action: str | None = None  # None for clip-level attributes
    index: int | None = None  # position of the action in the program
    note: str = ""

    @property
    def applicable(self) -> bool:
        return self.status != "n/a"


@dataclass
class ClipScore:
    clip_id: str
    actions: list[str]
    checks: list[Check]
    segments: list[tuple[int, int]] = field(default_factory=list)

    @property
    def applicable(self) -> list[Check]:
        return [c for c in self.checks if c.applicable]

    @property
    def all_correct(self) -> bool:
        """Every applicable attribute of the clip passed (the clip-level "overall")."""
        return all(c.status == "pass" for c in self.applicable)

    def failures(self) -> list[str]:
        """One line per failed check, e.g. ``jump_in_place#0 count: counted 3 jumps, expected 2``."""
        out = []
        for c in self.checks:
            if c.status != "fail":
                continue
            who = f"{c.action}#{c.index}" if c.action is not None else "clip"
            if c.attribute == "present":
                out.append(f"{who} not found: {c.note}")
            elif c.attribute == "order":
                out.append(f"{who} order: {c.note}")
            elif c.attribute == "arms_in_phase":
                out.append(f"{who} {c.attribute}: {c.note}, expected >= {c.expected}")
            else:
                out.append(f"{who} {c.attribute}: {c.note}, expected {c.expected}")
        return out

    def to_dict(self) -> dict:
        return {
            "id": self.clip_id,
            "actions": list(self.actions),
            "segments": [list(s) for s in self.segments],
            "all_correct": self.all_correct,
            "checks": [_jsonable(asdict(c)) for c in self.checks],
        }


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        if isinstance(v, float):
            v = round(v, 4)
        out[k] = v
    return out


def _known_action(a: object) -> bool:
    return isinstance(a, dict) and isinstance(a.get("action"), str) and a["action"] in VOCABULARY


def _check_label(label: dict) -> list[dict]:
    actions = label.get("actions") if isinstance(label, dict) else None
    if not actions or not all(_known_action(a) for a in actions):
        raise MoScaleError(f"label {label.get('id', '?') if isinstance(label, dict) else label!r} has no known program actions")
    return actions


def expected_posture(actions: list[dict], end: bool) -> str:
    """The posture the first action starts in (or the last one ends in): the corpus starts every clip standing
    unless it opens with stand_up, and ends it standing unless it closes with sit_down."""
    if end:
        return VOCABULARY[actions[-1]["action"]].end_posture
    return VOCABULARY[actions[0]["action"]].start_posture


def score_clip(joints: np.ndarray, label: dict, caption: str | None = None) -> ClipScore:
    """Check a motion (T, 22, 3) against the program of a corpus clip's ``label`` (a labels.jsonl row).

    ``caption``: the text the motion was generated from. When the label has a ``caption_info`` record of
    it (what the caption states about each action), attributes it does not state (a count said "several
    times", the direction of "turns around") are not checked; without one, attributes a caption may leave
    out (a turn's direction in "turns around", the leg in "hops on one leg") are not checked when its
    phrase does not name them. ``None`` (real motion) checks every attribute the label has.
    """
    actions = _check_label(label)
    sig = compute_signals(joints)
    cues = Cues(sig)
    n = len(actions)
    phrases: list[str | None] = [None] * n
    meta = caption_meta(label, caption) if caption is not None else None
    stated: list[frozenset[str] | None] = list(meta[0]) if meta else [None] * n
    vague: list[bool] = list(meta[1]) if meta else [False] * n
    if caption is not None and meta is None:
        split = caption_phrases(caption, n)
        phrases = list(split) if split is not None else [caption.lower()] * n
    cut = cut_program(sig, actions, cues)
    segs = cut.segments
    checks: list[Check] = []
    v3 = int(label.get("corpus_version") or 2) >= 3
    for i, (spec, (a, b)) in enumerate(zip(actions, segs, strict=True)):
        if v3 and is_circle(spec["action"]) and spec.get("angle") is None:
            spec = {**spec, "angle": FULL_CIRCLE_DEGREES}  # "in a circle": a closed circle (corpus v3)
            if stated[i] is not None:
                stated[i] = stated[i] | {"angle"}
        m = DETECTORS[VOCABULARY[spec["action"]].detector](sig, a, b, spec)
        for attr in ATTRIBUTES:
            if attr not in m.values:
                continue
            want = expected(attr, spec)
            if not applies(attr, spec, phrases[i], stated[i], vague[i]):
                continue
            got = m.values[attr]
            status = "pass" if matches(attr, got, want) else "fail"
            checks.append(Check(attr, status, got, want, spec["action"], i, m.notes.get(attr, "")))
    k = min(POSTURE_FRAMES, sig.T)
    for attr, (a, b), end in (("start_posture", (0, k), False), ("end_posture", (sig.T - k, sig.T), True)):
        got, want = posture_at(sig, a, b), expected_posture(actions, end)
        checks.append(Check(attr, "pass" if got == want else "fail", got, want, note=f"{got} over frames {a}..{b - 1}"))
    if n > 1:
        if cut.in_order is None:
            checks.append(Check("order", "n/a", None, None, note="no other order of the actions reads differently"))
        else:
            present = all(c.status == "pass" for c in checks if c.attribute == "present")
            good = cut.in_order and present
            found = " then ".join(a["action"] for _, a in sorted(zip(segs, actions, strict=True), key=lambda x: x[0]))
            note = f"found {found} (program order {cut.program_score:.1f}, best other {cut.best_other_score:.1f})"
            if not present:
                note += ", an action is missing"
            checks.append(Check("order", "pass" if good else "fail", good, True, note=note))
    return ClipScore(str(label.get("id", "")), [a["action"] for a in actions], checks, segs)


# ------------------------------------------------------------------------------------------ summary
@dataclass(frozen=True)
class Rate:
    """k of n with a 95% Wilson score interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def to_dict(self) -> dict:
        lo, hi = self.interval
        return {"k": self.k, "n": self.n, "acc": round(self.value, 4), "lo": round(lo, 4), "hi": round(hi, 4)}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n (NaNs for n = 0)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


@dataclass
class ProgramSummary:
    n_clips: int
    per_attribute: dict[str, Rate]
    per_action: dict[str, dict[str, Rate]]
    clips_all_correct: Rate
    attribute_mean: float
    attribute_mean_interval: tuple[float, float]

    def to_dict(self) -> dict:
        return {
            "clips": self.n_clips,
            "overall_clips_all_correct": self.clips_all_correct.to_dict(),
            "overall_attribute_mean": {
                "acc": round(self.attribute_mean, 4),
                "lo": round(self.attribute_mean_interval[0], 4),
                "hi": round(self.attribute_mean_interval[1], 4),
            },
            "per_attribute": {a: r.to_dict() for a, r in self.per_attribute.items()},
            "per_action": {act: {a: r.to_dict() for a, r in d.items()} for act, d in self.per_action.items()},
        }

    def table(self, per_action: bool = False) -> str:
        """A markdown table: one row per attribute (and per action with ``per_action``), then the overall rows."""
        rows = ["| attribute | accuracy | 95% interval | n |", "| --- | ---: | :---: | ---: |"]

        def row(name: str, r: Rate) -> str:
            lo, hi = r.interval
            return f"| {name} | {r.value:.3f} | {lo:.3f}-{hi:.3f} | {r.n} |"

        for a, r in self.per_attribute.items():
            rows.append(row(a, r))
        lo, hi = self.attribute_mean_interval
        rows.append(f"| **mean over attributes** | {self.attribute_mean:.3f} | {lo:.3f}-{hi:.3f} | {self.n_clips} clips |")
        rows.append(row("**clips with every attribute right**", self.clips_all_correct))
        if per_action:
            rows += ["", "| action | attribute | accuracy | 95% interval | n |", "| --- | --- | ---: | :---: | ---: |"]
            for act, d in self.per_action.items():
                for a, r in d.items():
                    lo, hi = r.interval
                    rows.append(f"| {act} | {a} | {r.value:.3f} | {lo:.3f}-{hi:.3f} | {r.n} |")
        return "\n".join(rows)


def _counts(scores: list[ClipScore], attrs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(clips, attributes) passed and applicable checks."""
    col = {a: j for j, a in enumerate(attrs)}
    K = np.zeros((len(scores), len(attrs)))
    N = np.zeros((len(scores), len(attrs)))
    for i, s in enumerate(scores):
        for c in s.applicable:
            N[i, col[c.attribute]] += 1
            K[i, col[c.attribute]] += c.status == "pass"
    return K, N


def _mean_of_rates(k: np.ndarray, n: np.ndarray) -> float:
    ok = n > 0
    return float(np.mean(k[ok] / n[ok])) if ok.any() else float("nan")


def summarize(scores: list[ClipScore], n_boot: int = 1000, seed: int = 0) -> ProgramSummary:
    """Per-attribute and per-action accuracy (Wilson 95% intervals), the fraction of clips with every
    applicable attribute right (Wilson), and the mean over attributes of their accuracies (95% percentile
    interval of a bootstrap over clips, ``n_boot`` resamples from ``seed``)."""
    if not scores:
        raise MoScaleError("no clips to summarise")
    per_attr: dict[str, list[int]] = {}
    per_action: dict[str, dict[str, list[int]]] = {}
    for s in scores:
        for c in s.applicable:
            kn = per_attr.setdefault(c.attribute, [0, 0])
            kn[0] += c.status == "pass"
            kn[1] += 1
            act = c.action or "(clip)"
            kn = per_action.setdefault(act, {}).setdefault(c.attribute, [0, 0])
            kn[0] += c.status == "pass"
            kn[1] += 1
    order = {a: i for i, a in enumerate(ATTRIBUTES)}
    attrs = sorted(per_attr, key=lambda a: order.get(a, 99))
    rates = {a: Rate(*per_attr[a]) for a in attrs}
    actions = {
        act: {a: Rate(*d[a]) for a in sorted(d, key=lambda a: order.get(a, 99))} for act, d in sorted(per_action.items())
    }
    K, N = _counts(scores, attrs)
    mean = _mean_of_rates(K.sum(0), N.sum(0))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, len(scores), len(scores)), minlength=len(scores)).astype(np.float64)
        boots.append(_mean_of_rates(w @ K, w @ N))
    lo, hi = (float(np.nanpercentile(boots, 2.5)), float(np.nanpercentile(boots, 97.5))) if n_boot else (mean, mean)
    all_ok = Rate(sum(s.all_correct for s in scores), len(scores))
    return ProgramSummary(len(scores), rates, actions, all_ok, mean, (lo, hi))
