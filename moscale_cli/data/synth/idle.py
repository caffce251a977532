"""Idle motion: what a person does while waiting between and around actions (never a frozen pose).

An :class:`IdleLayer` holds slow per-frame offsets of the pose channels: breathing (spine and neck pitch,
a little shoulder lift), weight shifts (the pelvis drifts over one foot and back, the spine leans against it),
small arm sway and looking around (neck yaw and pitch). :func:`apply_idle` adds them to a clip's channels with
a per-frame weight (1 where the clip is idle, 0 while an action moves), and gates every part by what the body
is doing in that frame, read from the channels themselves:

* weight shifts only while both feet are planted and the legs stand (toe height at the standing value, feet
  under the hips): the toes keep their place on the floor and the composer's foot lock turns the toe offsets
  into a pelvis shift, so feet never slide and a weight shift is never a step;
* arm sway only on an arm that hangs (elevation under ``ARM_HANG``): a raised hand (a paused wave) stays
  where the action holds it;
* breathing and looking around everywhere the weight is on, seated included.

Amplitudes are small on purpose (program detectors must not read a weight shift as travel, a sway as a
wave, a look as a turn): pelvis shift <= 4 cm, spine lean <= 0.03 rad, arm sway <= 0.06 rad, neck yaw
<= 0.65 rad (the body's facing comes from hips and shoulders, not the head).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moscale_cli.data.synth.curves import gaussian_smooth, smoothstep
from moscale_cli.data.synth.program import FPS
from moscale_cli.data.synth.rig import (
    C_ARM,
    C_CONTACT,
    C_LEG,
    C_NECK_PITCH,
    C_NECK_YAW,
    C_SPINE_PITCH,
    C_SPINE_ROLL,
    STAND_H,
)

ARM_HANG = 0.7  # rad: an arm with a smaller elevation hangs or rests (neutral ~0.15, on the thighs seated ~0.6)
STAND_TOL = 0.04  # m: a toe within this of the standing depth stands
GATE_ERODE = 5  # frames: weight shifts stop this long before a foot lifts (and start this long after it lands)


@dataclass
class IdleLayer:
    """Per-frame idle offsets (all (n,) float64)."""

    breath: np.ndarray  # spine pitch (rad)
    shift: np.ndarray  # lateral toe offset (m, + = toes to the character's left, so the pelvis goes right)
    sway_fb: np.ndarray  # fore-aft toe offset (m)
    arm: np.ndarray  # (n, 2) arm elevation offsets (rad), left and right
    elbow: np.ndarray  # (n, 2) elbow offsets (rad)
    look_yaw: np.ndarray  # neck yaw (rad)
    look_pitch: np.ndarray  # neck pitch (rad)


def _held_keys(n: int, rng: np.random.Generator, every: tuple[float, float], amp: float, p_zero: float) -> np.ndarray:
    """Slow moves between held values: a key every ``every`` seconds (uniform) at a value in [-amp, amp]
    (0 with probability ``p_zero``), eased from key to key (smoothstep: still at every key, never overshooting)."""
    t, times, vals = 0.0, [0.0], [0.0]
    while t < n:
        t += rng.uniform(every[0], every[1]) * FPS
        times.append(t)
        vals.append(0.0 if rng.random() < p_zero else rng.uniform(-amp, amp))
    tk, vk = np.asarray(times), np.asarray(vals)
    x = np.arange(n, dtype=np.float64)
    k = np.clip(np.searchsorted(tk, x, side="right") - 1, 0, len(tk) - 2)
    u = (x - tk[k]) / (tk[k + 1] - tk[k])
    return vk[k] + (vk[k + 1] - vk[k]) * smoothstep(u)


def idle_layer(n: int, rng: np.random.Generator) -> IdleLayer:
    """Idle offsets for ``n`` frames, drawn from ``rng`` (one draw per clip)."""
    t = np.arange(n, dtype=np.float64) / FPS
    rate = rng.uniform(0.2, 0.33)  # breaths per second
    depth = rng.uniform(0.012, 0.022)
    breath = depth * 0.5 * (1 - np.cos(2 * np.pi * (rate * t + rng.uniform(0, 1))))
    shift = _held_keys(n, rng, (1.2, 3.0), 0.035, 0.3)
    sway_fb = _held_keys(n, rng, (1.5, 3.5), 0.012, 0.4)
    arm = np.stack([_held_keys(n, rng, (1.0, 2.5), 0.05, 0.3) + 0.3 * breath for _ in range(2)], -1)
    elbow = np.stack([_held_keys(n, rng, (1.0, 2.5), 0.12, 0.3) for _ in range(2)], -1)
    look_yaw = _held_keys(n, rng, (0.8, 2.5), 0.55, 0.45)
    look_pitch = _held_keys(n, rng, (1.0, 3.0), 0.12, 0.5) - 0.3 * breath
    # the head never stops quite still: a slow drift on top of the looks
    for x, amp in ((look_yaw, 0.05), (look_pitch, 0.03)):
        for _ in range(2):
            x += amp * np.sin(2 * np.pi * (rng.uniform(0.15, 0.45) * t + rng.uniform(0, 1)))
    return IdleLayer(breath, shift, sway_fb, arm, elbow, look_yaw, look_pitch)


def standing_gate(P: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(n,) 0..1: both feet planted and standing at their base place (eroded by ``GATE_ERODE`` frames and
    smoothed, so weight shifts fade out before a foot lifts)."""
    ok = np.ones(len(P), dtype=bool)
    for side in (0, 1):
        c = C_LEG[side]
        ok &= P[:, C_CONTACT[side]] > 0.5
        ok &= np.abs(P[:, c + 1] + STAND_H) < STAND_TOL
        ok &= np.hypot(P[:, c] - base[c], P[:, c + 2] - base[c + 2]) < 0.08
    if GATE_ERODE > 0 and len(ok) > 1:
        bad = ~ok
        grown = bad.copy()
        for k in range(1, GATE_ERODE + 1):
            grown[k:] |= bad[:-k]
            grown[:-k] |= bad[k:]
        ok = ~grown
    return gaussian_smooth(ok.astype(np.float64), 1.5)


def apply_idle(P: np.ndarray, weight: np.ndarray, layer: IdleLayer, base: np.ndarray) -> None:
    """Add ``layer`` to the channels ``P`` (n, NP) in place, scaled by ``weight`` (n,) and gated per frame
    (see the module docstring). ``base`` is the clip's standing pose (where standing feet belong)."""
    w = np.clip(weight, 0.0, 1.0)
    g = w * standing_gate(P, base)
    for side in (0, 1):
        c = C_LEG[side]
        P[:, c] += g * (layer.shift if side == 0 else -layer.shift)  # right toe x is mirrored
        P[:, c + 2] += g * layer.sway_fb
    P[:, C_SPINE_ROLL] += -0.6 * g * layer.shift
    P[:, C_SPINE_PITCH] += w * layer.breath
    P[:, C_NECK_YAW] += w * layer.look_yaw
    P[:, C_NECK_PITCH] += w * layer.look_pitch
    for side in (0, 1):
        a = C_ARM[side]
        hang = np.clip((ARM_HANG - P[:, a]) / 0.15, 0.0, 1.0)
        P[:, a] = np.maximum(P[:, a] + w * hang * layer.arm[:, side], 0.02)
        P[:, a + 3] = np.maximum(P[:, a + 3] + w * hang * layer.elbow[:, side], 0.05)
