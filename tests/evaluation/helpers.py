"""A tiny learnable text-motion corpus in the HumanML3D layout (made inside tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = [
    ("a person walks forward", "a/DET person/NOUN walk/VERB forward/ADV"),
    ("someone jumps up and down", "someone/PRON jump/VERB up/ADP and/CCONJ down/ADP"),
    ("a man waves his left hand", "a/DET man/NOUN wave/VERB his/PRON left/ADJ hand/NOUN"),
    ("the person sits on a chair", "the/DET person/NOUN sit/VERB on/ADP a/DET chair/NOUN"),
    ("a figure spins clockwise", "a/DET figure/NOUN spin/VERB clockwise/ADV"),
    ("he kicks with the right leg", "he/PRON kick/VERB with/ADP the/DET right/ADJ leg/NOUN"),
    ("a person runs in a circle", "a/DET person/NOUN run/VERB in/ADP a/DET circle/NOUN"),
    ("someone raises both arms", "someone/PRON raise/VERB both/DET arm/NOUN"),
]


def write_corpus(root: Path, per_class: int = 6, dim: int = 263, seed: int = 0, splits=("train", "val", "test"),
                 n_classes: int = 8, eval_one_per_class: bool = True) -> Path:
    """Each class has its own smooth feature pattern (frequency, phase, active dims) plus noise."""
    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True, exist_ok=True)
    (root / "new_joints").mkdir(exist_ok=True)
    (root / "texts").mkdir(exist_ok=True)
    names: list[str] = []
    allf = []
    for c in range(n_classes):
        cap, toks = CLASSES[c]
        crng = np.random.default_rng(1000 + c)
        dims = crng.choice(dim - 4, size=dim // 3, replace=False)
        freq = 0.05 + 0.04 * c
        for k in range(per_class):
            t = int(rng.integers(60, 120))
            f = 0.3 * rng.normal(size=(t, dim)).astype(np.float32)
            tt = np.arange(t)[:, None]
            f[:, dims] += 2.0 * np.sin(freq * tt + crng.uniform(0, 6, size=len(dims)))
            f[:, -4:] = (rng.random((t, 4)) > 0.5).astype(np.float32)
            name = f"{c:02d}{k:03d}"
            np.save(root / "new_joint_vecs" / f"{name}.npy", f.astype(np.float32))
            (root / "texts" / f"{name}.txt").write_text(f"{cap}#{toks}#0.0#0.0\n")
            names.append(name)
            allf.append(f)
    a = np.concatenate(allf)
    np.save(root / "Mean.npy", a.mean(0).astype(np.float32))
    np.save(root / "Std.npy", (a.std(0) + 1e-3).astype(np.float32))
    for s in splits:
        # train: every clip; other splits: one clip per class (distinct captions inside a batch)
        chosen = names if s == "train" or not eval_one_per_class else [n for n in names if n.endswith("000")]
        (root / f"{s}.txt").write_text("".join(n + "\n" for n in chosen))
    return root


def build_tiny_model_dir(path: Path, data_root: Path, seed: int = 0) -> Path:
    """A random-weight model directory (tiny tokenizer + generator) with the data's statistics."""
    import torch

    from moscale_cli.model_dir import save_model_dir
    from moscale_cli.models.generator import GeneratorConfig, MoScaleTransformer
    from moscale_cli.models.tokenizer import MSTokenizer, TokenizerConfig
    from moscale_cli.motion.normalize import Normalizer

    torch.manual_seed(seed)
    tok = MSTokenizer(TokenizerConfig.preset("tiny"))
    with torch.no_grad():  # an untrained codebook is all zeros: random codes make samples differ
        tok.codebook.normal_()
        tok.codebook_initialized.fill_(True)
    gen = MoScaleTransformer(GeneratorConfig.preset("tiny", tokenizer=tok, text_len=16))
    norm = Normalizer.from_dir(data_root)
    return save_model_dir(path, tok, gen, norm, "sentence-transformers/all-MiniLM-L6-v2", text_max_tokens=16,
                          text_dim=384, name="tiny-random")


def build_our_evaluator_run(path: Path, data_root: Path, feature_dim: int = 263, seed: int = 0) -> Path:
    """A random-weight evaluator run folder (tiny preset) with the data's evaluator statistics."""
    import torch

    from moscale_cli.evaluation.evaluators import save_our_evaluator
    from moscale_cli.models.evaluator import EvaluatorConfig, MoScaleEvaluator
    from moscale_cli.motion.normalize import evaluator_std

    torch.manual_seed(seed)
    cfg = EvaluatorConfig.preset("tiny", feature_dim=feature_dim, text_encoder="sentence-transformers/all-MiniLM-L6-v2",
                                 text_max_tokens=16)
    m = MoScaleEvaluator(cfg)
    if feature_dim == 263:
        mean = np.load(data_root / "Mean.npy")
        std = evaluator_std(np.load(data_root / "Std.npy"))
    else:
        mean, std = np.zeros(feature_dim, np.float32), np.ones(feature_dim, np.float32)
    path.mkdir(parents=True, exist_ok=True)
    save_our_evaluator(path, m, mean, std)
    return path


def build_model_with_evaluator(base: Path, data_root: Path, metrics: dict | None = None) -> Path:
    """A tiny model directory under ``base`` that names a tiny evaluator of ours (both built on ``data_root``)."""
    from moscale_cli.model_dir import update_model_dir

    model = build_tiny_model_dir(base / "tiny", data_root)
    update_model_dir(model, evaluator_run=build_our_evaluator_run(base / "evaluator", data_root), metrics=metrics)
    return model


def build_small_corpus(folder: Path, clips: int, seed: int) -> Path:
    """A small procedural corpus (program labels included) at ``folder / "corpus"``."""
    from moscale_cli.data.synth.corpus import build_corpus

    root = folder / "corpus"
    build_corpus(root, clips=clips, seed=seed, workers=1)
    return root
