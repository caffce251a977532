"""Caption language of the procedural corpus: phrasing banks with a training/held-out split, a renderer,
and a lexicon with a rule-based ``word/POS`` tagger.

``action_banks`` says each action many ways (keyed by the action's name), ``word_banks`` the counts, sides,
directions, speeds, styles, subjects, sentence frames and sequence words; every bank is split into training
phrasings and held-out phrasings (``grammar``). ``render`` builds a clip's training captions from training
phrasings only and its held-out captions from held-out ones, recording what each caption states about each
action; ``lexicon`` tags every word a caption can contain.
"""

from moscale_cli.data.synth.language.render import Caption, caption_set, render

__all__ = ["Caption", "caption_set", "render"]
