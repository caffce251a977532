"""Procedural text-motion corpus on the SMPL-22 skeleton (``moscale data synth``).

``program`` draws what a clip shows, ``actions`` animates each action as pose channels, ``compose``
sequences them and solves the root path from the planted feet, ``rig`` does IK/FK with SMPL-22's bone
lengths, ``captions`` writes the paraphrases and their ``word/POS`` tokens, ``corpus`` writes the dataset.
"""

from moscale_cli.data.synth.corpus import build_corpus, generate_clip
from moscale_cli.data.synth.program import ACTION_NAMES, ActionSpec, Program, sample_program

__all__ = ["ACTION_NAMES", "ActionSpec", "Program", "build_corpus", "generate_clip", "sample_program"]
