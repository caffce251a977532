"""The motion page (.html): one self-contained file (no network at view time), and in a real browser
(headless Chromium, where installed; CI installs it): it plays (a frame counter read from the page) and a
screenshot shows the figure in its side colours."""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from moscale_cli.errors import MoScaleError
from moscale_cli.io.html import LEFT, RIGHT, page_html, write_html

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _motion(frames: int = 40, x: float = 0.0) -> np.ndarray:
    from moscale_cli.motion.skeleton import SMPL22

    rest = SMPL22.rest_pose().astype(np.float64)
    rest[..., 1] -= rest[..., 1].min()
    j = np.repeat(rest[None], frames, 0)
    j[:, :, 2] += 0.03 * np.arange(frames)[:, None]
    j[:, [16, 18, 20], 1] += np.linspace(0, 0.3, frames)[:, None]  # the left arm rises
    j[..., 0] += x
    return j


def _data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="motion-data">(.*?)</script>', text, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_page_is_one_offline_file(tmp_path):
    a, b = _motion(40), _motion(30, 1.0)
    title = 'a person </script><b>"waves"</b> & walks'
    write_html(tmp_path / "m.html", [a, b], title=title, fps=20.0, labels=["sample 0", "sample 1"])
    text = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert f"<title>{html.escape(title)}</title>" in text and "<b>" not in text.split("<script")[0]
    d = _data(text)
    assert d["title"] == title and d["fps"] == 20.0 and len(d["samples"]) == 2
    assert d["samples"][1]["frames"] == 30
    np.testing.assert_allclose(np.array(d["samples"][0]["joints"]).reshape(40, 22, 3), a, atol=6e-5)
    sides = {tuple(x[:2]): x[2] for x in d["bones"]}
    assert sides[(18, 20)] == "left" and sides[(19, 21)] == "right" and sides[(9, 12)] == "centre"
    assert "var THREE=" in text and "three.js" in text.lower()  # the 3D library is inlined, with its licence
    # nothing is fetched at view time: no external scripts, styles, images or fetch/import calls
    assert not re.search(r'<(script|link|img)[^>]+(src|href)\s*=\s*["\']?(https?:)?//', text)
    assert not re.search(r"\bfetch\(|\bimport\(\s*['\"]https?:", text)
    for bad in ([], [a, a[:, :21]], [a * np.nan]):
        with pytest.raises(MoScaleError):
            page_html(bad)


def _chromium(chromium: str, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout
        )


def _red_blue_pixels(png: Path) -> tuple[int, int, int]:
    import matplotlib.image as mpimg

    img = (mpimg.imread(png)[..., :3] * 255).astype(int)
    img = img[80:-80]  # the 3D view only: not the legend above it, not the controls below
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    red = int(((r > 120) & (g < 80) & (b < 80) & (r > 2 * g)).sum())
    blue = int(((b > 100) & (r < 80) & (b > r + 50) & (b > g + 20)).sum())
    other = int((np.abs(img - 255).sum(-1) > 60).sum())
    return red, blue, other


@pytest.mark.slow
def test_page_plays_in_chromium_and_shows_the_figure(chromium, tmp_path):
    page = tmp_path / "m.html"
    write_html(page, [_motion(200), _motion(200, 0.5)], title="a person raises the left arm", fps=20.0)
    res = _chromium(chromium, "--virtual-time-budget=4000", "--dump-dom", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", res.stdout)
    assert body is not None, res.stdout[:500]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))
    assert "error" not in attrs, attrs
    assert attrs.get("ready") == "1"
    assert int(attrs["played"]) >= 2 and int(attrs["frame"]) >= 2  # it plays: the frame counter moved
    counter = re.search(r'<span id="frame">(\d+)/200', res.stdout)
    assert counter is not None and int(counter.group(1)) == int(attrs["frame"]) + 1
    shot = tmp_path / "shot.png"
    res = _chromium(chromium, "--virtual-time-budget=1500", "--window-size=1000,600", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file(), res.stderr[-2000:]
    red, blue, other = _red_blue_pixels(shot)
    assert red > 300 and blue > 300, (red, blue)  # the figure, left side red and right side blue
    assert LEFT == "#d62728" and RIGHT == "#1f77b4"
