"""Procedural text-motion corpus on the SMPL-22 skeleton (``moscale data synth``).

``program`` draws what a clip shows, ``actions`` animates each action as pose channels, ``compose``
sequences them and solves the root path from the planted feet, ``rig`` does IK/FK with SMPL-22's bone
lengths, ``captions`` writes the paraphrases and their ``word/POS`` tokens, ``corpus`` writes the dataset.
"""
