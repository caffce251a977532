"""Normaliser and HumanML3D statistics rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moscale_cli.errors import DatasetError, MoScaleError
from moscale_cli.motion.features import joints_to_features
from moscale_cli.motion.normalize import Normalizer, compute_stats, evaluator_std, group_average_std
from moscale_cli.motion.skeleton import KIT21, SMPL22

from .helpers import random_smooth_motion

SLICES = SMPL22.feature_slices()


def test_dataset_std_is_group_averaged(hml_fixture_dir):
    std = np.load(hml_fixture_dir / "Std.npy")
    assert std.shape == (263,)
    for sl in SLICES.values():
        assert np.ptp(std[sl]) == 0.0
    assert np.array_equal(group_average_std(std).astype(np.float32), std)


def test_evaluator_std_divides_root_and_contacts_by_25(hml_fixture_dir):
    std = np.load(hml_fixture_dir / "Std.npy")
    ev = evaluator_std(std)
    ratio = std / ev
    scaled = np.r_[0:4, 259:263]
    assert np.allclose(ratio[scaled], 25.0, rtol=1e-6)
    assert np.all((ratio[scaled] >= 24.9) & (ratio[scaled] <= 25.3))  # the spread seen in the real files
    rest = np.setdiff1d(np.arange(263), scaled)
    assert np.array_equal(ev[rest], std[rest])
    kit = evaluator_std(np.ones(251, np.float32), KIT21)
    assert np.allclose(kit[np.r_[0:4, 247:251]], 0.04) and np.allclose(kit[4:247], 1.0)


def test_compute_stats_on_feature_clips(hml_fixture_dir):
    feats = np.load(hml_fixture_dir / "new_joint_vecs" / "012314.npy")
    extra = joints_to_features(random_smooth_motion(60, 0))
    mean, std = compute_stats([feats, extra], SMPL22)
    allf = np.concatenate([feats, extra]).astype(np.float64)
    assert mean.dtype == np.float32 and np.abs(mean - allf.mean(0)).max() < 1e-6
    raw = allf.std(0)
    for sl in SLICES.values():
        assert np.ptp(std[sl]) == 0.0
        assert abs(std[sl][0] - raw[sl].mean()) < 1e-6
    with pytest.raises(MoScaleError):
        compute_stats([], SMPL22)
    with pytest.raises(MoScaleError):
        compute_stats([feats, feats[:, :251]], SMPL22)


def test_normalizer_round_trip_numpy_torch_and_zero_std(tmp_path):
    rng = np.random.default_rng(0)
    mean = rng.normal(size=263).astype(np.float32)
    std = rng.uniform(0.1, 2, size=263).astype(np.float32)
    std[5] = 0.0
    norm = Normalizer(mean, std)
    x = rng.normal(size=(4, 10, 263)).astype(np.float32)
    y = norm.normalize(x)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    assert np.allclose(y[..., 0], (x[..., 0] - mean[0]) / std[0], atol=1e-6)
    assert np.allclose(y[..., 5], x[..., 5] - mean[5], atol=1e-6)
    assert np.abs(norm.denormalize(y) - x).max() < 1e-5
    xt = torch.from_numpy(x)
    yt = norm.normalize(xt)
    assert isinstance(yt, torch.Tensor) and np.abs(yt.numpy() - y).max() < 1e-6
    assert np.abs(norm.denormalize(yt).numpy() - x).max() < 1e-5
    norm.save(tmp_path / "stats")
    loaded = Normalizer.from_dir(tmp_path / "stats")
    assert np.array_equal(loaded.mean, mean) and np.array_equal(loaded.std, std)
    assert not list((tmp_path / "stats").glob(".*tmp*"))
    with pytest.raises(MoScaleError):
        norm.normalize(np.zeros((3, 251), np.float32))


def test_normalizer_from_dir_errors(tmp_path, hml_fixture_dir):
    with pytest.raises(DatasetError):
        Normalizer.from_dir(tmp_path)
    (tmp_path / "Mean.npy").write_bytes(b"not a npy file")
    (tmp_path / "Std.npy").write_bytes(b"not a npy file")
    with pytest.raises(DatasetError):
        Normalizer.from_dir(tmp_path)
    norm = Normalizer.from_dir(hml_fixture_dir)
    assert norm.dim == 263
    with pytest.raises(MoScaleError):
        Normalizer(np.zeros(3), np.array([1.0, np.nan, 1.0]))
