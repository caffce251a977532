"""Banks for everything around the action: counts, sides, directions, speeds, styles, subjects, sentence
frames and sequence words, each with training and held-out phrasings.

Inner slots: ``{w}`` a number word, ``{d}`` digits, ``{a}`` a/an, ``{sg}``/``{pl}`` the counted noun,
``{s}`` left/right, ``{L}``/``{Ls}`` the limb noun (hand, arm, fist, leg, foot), ``{poss}`` his/her/their/the,
``{S}`` the subject, ``{P}`` the subject again (a pronoun), ``{VP}`` the verb phrases in a form
(``{VP}`` present, ``{VP:past}``, ``{VP:ing}``, ``{VP:base}``), ``{A}``/``{B}`` two consecutive actions.
"""

from __future__ import annotations

from moscale_cli.data.synth.language.grammar import Bank, bank

# ------------------------------------------------------------------------------------------------ counts
COUNT_ADVERB = bank(
    "count_adverb",
    """
    [n=1] once
    [n=1] one time
    [n=2] twice
    [n=2] two times
    [n=2] a couple of times
    [n>=3] {w} times
    [n>=2] {d} times
    [n>=2] {w} times in a row
    [n>=3 vague] several times
    [n>=3 n<=4 vague] a few times
    [n>=2] {d} times in a row
    [n>=2] {w} times in total
    [n=1] only once
    [n=2] a couple times
    [n>=3 vague] multiple times
    """,
    """
    [n=1] a single time
    [n=1] just once
    [n=3] thrice
    [n>=2] {w} consecutive times
    [n>=2] {d} separate times
    [n>=2] on {w} occasions
    [n>=3 vague] a handful of times
    [n>=3 vague] a number of times
    """,
)
COUNT_NOUN = bank(
    "count_noun",
    """
    [n=1] {a} {sg}
    [n=1] one {sg}
    [n=1] a single {sg}
    [n>=2] {w} {pl}
    [n>=2] {d} {pl}
    [n=2] a couple of {pl}
    [n>=3 vague] several {pl}
    [n>=3 n<=4 vague] a few {pl}
    [n>=3 vague] many {pl}
    [n>=2] {w} {pl} in a row
    [n=2] a couple {pl}
    """,
    """
    [n=1] just one {sg}
    [n=1] exactly one {sg}
    [n=2] a pair of {pl}
    [n>=2] a set of {w} {pl}
    [n>=2] {w} consecutive {pl}
    [n>=3 vague] a handful of {pl}
    """,
)
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}

# ------------------------------------------------------------------------------------------------- sides
# limb kind -> (singular, plural) nouns a side phrase may use
LIMBS: dict[str, tuple[tuple[str, str], ...]] = {
    "hand": (("hand", "hands"), ("arm", "arms")),
    "arm": (("arm", "arms"),),
    "fist": (("fist", "fists"), ("hand", "hands")),
    "leg": (("leg", "legs"), ("foot", "feet")),
}

_WITH_ONE = """
    [side=one] with {poss} {s} {L}
    [side=one] with the {s} {L}
    [side=one] using {poss} {s} {L}
    [side=one] using the {s} {L}
    [side=one] with the {s}
    [side=one] with {poss} {s}
    [side=one] using the {s}
"""
_WITH_ONE_HELD = """
    [side=one] with {poss} {s}-side {L}
    [side=one] by means of the {s} {L}
    [side=one] employing {poss} {s} {L}
"""
SIDE_BANKS: dict[str, Bank] = {
    "with:hand": bank(
        "side:with:hand",
        _WITH_ONE
        + """
        [side=one] {s}-handed
        [side=both] with both hands
        [side=both] with both arms
        [side=both] using both hands
        [side=both] with both of {poss} hands
        [side=both] two-handed
        [side=both] with {poss} hands
        """,
        _WITH_ONE_HELD
        + """
        [side=one] with only {poss} {s} {L}
        [side=both] with {poss} two hands
        [side=both] with each hand
        """,
    ),
    "with:arm": bank(
        "side:with:arm",
        _WITH_ONE
        + """
        [side=both] with both arms
        [side=both] using both arms
        [side=both] with both of {poss} arms
        [side=both] with {poss} arms
        """,
        _WITH_ONE_HELD
        + """
        [side=both] with {poss} two arms
        [side=both] with each arm
        """,
    ),
    "with:fist": bank(
        "side:with:fist",
        _WITH_ONE
        + """
        [side=one] {s}-handed
        [side=both] with alternating fists
        [side=both] alternating left and right
        [side=both] with alternating hands
        [side=both] using both fists in turn
        [side=both] with both fists one after the other
        """,
        _WITH_ONE_HELD
        + """
        [side=one] leading with the {s}
        [side=both] switching fists each time
        [side=both] with each fist taking turns
        """,
    ),
    "with:leg": bank(
        "side:with:leg",
        _WITH_ONE,
        _WITH_ONE_HELD
        + """
        [side=one] {s}-footed
        """,
    ),
    "obj:hand": bank(
        "side:obj:hand",
        """
        [side=one] {poss} {s} {L}
        [side=one] the {s} {L}
        [side=one] one {L}, the {s} one
        [side=both] both {Ls}
        [side=both] both of {poss} {Ls}
        [side=both] {poss} {Ls}
        [side=both] both {poss} {Ls}
        """,
        """
        [side=one] {poss} {s}-side {L}
        [side=one] the {L} on the {s}
        [side=both] {poss} two {Ls}
        """,
    ),
    "obj:arm": bank(
        "side:obj:arm",
        """
        [side=one] {poss} {s} {L}
        [side=one] the {s} {L}
        [side=one] one {L}, the {s} one
        [side=both] both {Ls}
        [side=both] both of {poss} {Ls}
        [side=both] {poss} {Ls}
        [side=both] both {poss} {Ls}
        """,
        """
        [side=one] {poss} {s}-side {L}
        [side=one] the {L} on the {s}
        [side=both] {poss} two {Ls}
        """,
    ),
    "obj:fist": bank(
        "side:obj:fist",
        """
        [side=one] {poss} {s} {L}
        [side=one] the {s} {L}
        [side=both] {poss} fists in turn
        [side=both] both fists alternately
        """,
        """
        [side=one] {poss} {s}-side {L}
        [side=both] {poss} fists one at a time
        """,
    ),
    "obj:leg": bank(
        "side:obj:leg",
        """
        [side=one] {poss} {s} {L}
        [side=one] the {s} {L}
        """,
        """
        [side=one] {poss} {s}-side {L}
        """,
    ),
    "on:leg": bank(
        "side:on:leg",
        """
        [side=one] on {poss} {s} leg
        [side=one] on the {s} leg
        [side=one] on {poss} {s} foot
        [side=one] on the {s} foot
        [side=one] on the {s}
        [side=one] on one leg, the {s} one
        [side=one] on one foot, the {s} one
        """,
        """
        [side=one] on just the {s} foot
        [side=one] on {poss} {s}-side leg
        [side=one] on only the {s} leg
        """,
    ),
}

# -------------------------------------------------------------------------------------------- directions
DIRECTION_BANKS: dict[str, Bank] = {
    "lateral": bank(
        "direction:lateral",
        """
        [dir=left] to the left
        [dir=left] to {poss} left
        [dir=left] leftward
        [dir=left] leftwards
        [dir=left] toward the left
        [dir=left] towards the left
        [dir=left] to the left side
        [dir=right] to the right
        [dir=right] to {poss} right
        [dir=right] rightward
        [dir=right] rightwards
        [dir=right] toward the right
        [dir=right] towards the right
        [dir=right] to the right side
        """,
        """
        [dir=left] in a leftward direction
        [dir=left] off to the left
        [dir=left] toward {poss} left-hand side
        [dir=right] in a rightward direction
        [dir=right] off to the right
        [dir=right] toward {poss} right-hand side
        """,
    ),
    "rotation": bank(
        "direction:rotation",
        """
        [dir=left] to the left
        [dir=left] to {poss} left
        [dir=left] left
        [dir=left] counterclockwise
        [dir=left] counter-clockwise
        [dir=left] leftward
        [dir=right] to the right
        [dir=right] to {poss} right
        [dir=right] right
        [dir=right] clockwise
        [dir=right] rightward
        [dir=left] toward the left
        [dir=left] towards the left
        [dir=right] toward the right
        [dir=right] towards the right
        """,
        """
        [dir=left] anticlockwise
        [dir=left] anti-clockwise
        [dir=left] in an anticlockwise direction
        [dir=left] toward {poss} left-hand side
        [dir=right] in a clockwise direction
        [dir=right] toward {poss} right-hand side
        [dir=right] off to the right
        """,
    ),
}

# ------------------------------------------------------------------------------------ speeds and styles
SPEED = bank(
    "speed",
    """
    [speed=slow] slowly
    [speed=slow] at a slow pace
    [speed=slow] slow
    [speed=slow] at a slow speed
    [speed=slow] in a slow manner
    [speed=slow] leisurely
    [speed=fast] quickly
    [speed=fast] fast
    [speed=fast] rapidly
    [speed=fast] at a fast pace
    [speed=fast] briskly
    [speed=fast] in a hurry
    [speed=fast] hurriedly
    [speed=fast] at a quick pace
    [speed=slow] gently
    [speed=slow] very slowly
    [speed=fast] very quickly
    [speed=fast] at a brisk pace
    """,
    """
    [speed=slow] at a leisurely pace
    [speed=slow] at a crawl
    [speed=slow] without hurrying
    [speed=slow] unhurriedly
    [speed=fast] swiftly
    [speed=fast] at high speed
    [speed=fast] in a rush
    [speed=fast] speedily
    """,
)
STYLE = bank(
    "style",
    """
    [style=energetic] energetically
    [style=energetic] vigorously
    [style=energetic] with a lot of energy
    [style=energetic] enthusiastically
    [style=energetic] in a lively way
    [style=energetic] full of energy
    [style=energetic] with energy
    [style=tired] tiredly
    [style=tired] wearily
    [style=tired] sluggishly
    [style=tired] in a tired way
    [style=tired] as if exhausted
    [style=tired] lethargically
    [style=tired] in an exhausted manner
    [style=energetic] with enthusiasm
    [style=energetic] in an energetic way
    [style=tired] as if tired
    [style=tired] in a weary way
    """,
    """
    [style=energetic] with gusto
    [style=energetic] with vigor
    [style=energetic] exuberantly
    [style=energetic] in a spirited way
    [style=tired] listlessly
    [style=tired] drowsily
    [style=tired] as though drained of energy
    [style=tired] in a fatigued manner
    """,
)
# adjectives that put the style on the subject ("a tired man squats twice")
STYLE_ADJECTIVE = bank(
    "style_adjective",
    """
    [style=energetic] energetic
    [style=energetic] lively
    [style=energetic] enthusiastic
    [style=tired] tired
    [style=tired] exhausted
    [style=tired] weary
    [style=energetic] excited
    [style=tired] sleepy
    [style=tired] worn-out
    """,
    """
    [style=energetic] spirited
    [style=energetic] peppy
    [style=tired] fatigued
    [style=tired] drowsy
    """,
)

# ------------------------------------------------------------------------------------- subjects, frames
SUBJECT = bank(
    "subject",
    """
    a person
    someone
    the person
    somebody
    a human
    a figure
    the figure
    this person
    a character
    [g=m] a man
    [g=m] the man
    [g=m] a guy
    [g=f] a woman
    [g=f] the woman
    """,
    """
    an individual
    the subject
    the performer
    [g=m] a gentleman
    [g=m] a fellow
    [g=f] a lady
    """,
)
FRAME = bank(
    "frame",
    """
    [w=4] {S} {VP}
    [w=1.5] {S} {VP:past}
    [w=1] {S} is {VP:ing}
    [w=1] {S} {VP:ing}
    [w=0.4] {VP:ing}
    [w=0.6] {S} that {VP}
    [w=0.6] {S} who {VP}
    """,
    """
    {S} can be seen {VP:ing}
    {S} proceeds to {VP:base}
    this is {S} {VP:ing}
    """,
)
# single counted action said as a noun phrase ("jumping jacks, two of them")
FRAGMENT = bank(
    "fragment",
    """
    {np}
    [n>=2] {pl}, {w} of them
    [n>=2] {pl}, {d} times
    [n>=2] {pl}, {w} times
    [n=1] one {sg} only
    """,
    """
    [n>=2] {w} reps of {pl}
    [n>=2] {pl}, a total of {w}
    [n=1] a lone {sg}
    """,
)

# -------------------------------------------------------------------------------------------- sequences
JOIN = bank(
    "join",
    """
    [w=2] {A}, then {B}
    {A} then {B}
    [w=2] {A} and then {B}
    {A}, and then {B}
    {A}, after that {B}
    {A} and after that {B}
    {A}. after that, {P} {B}
    {A}. then {P} {B}
    {A}, next {B}
    {A} and next {B}
    {A}, followed by {B:ing}
    {A} followed by {B:ing}
    {A} before {B:ing}
    {A} and afterwards {B}
    {A}, afterwards {B}
    {A} and {B}
    """,
    """
    {A} and subsequently {B}
    {A}, subsequently {B}
    {A}, after which {P} {B}
    {A}, and when done, {B}
    {A}. following this, {P} {B}
    {A}, and later {B}
    """,
)
# the last of three actions
JOIN_LAST = bank(
    "join_last",
    """
    {A}, and finally {B}
    {A}, and lastly {B}
    {A}, then finally {B}
    {A} and at the end {B}
    {A}, and then finally {B}
    {A} and lastly {B}
    """,
    """
    {A}, and to finish {B}
    {A}, and in the end {B}
    {A} and ultimately {B}
    """,
)
# before the first of several actions
OPENER = bank(
    "opener",
    """
    first
    first of all
    to start
    first off
    at first
    """,
    """
    to begin with
    initially
    """,
)
# two actions with the second named first ("before sitting down, the person waves")
FRONTED = bank(
    "fronted",
    """
    before {B:ing}, {S} {A}
    after {A:ing}, {S} {B}
    before {B:ing}, {S} first {A}
    after {A:ing}, {S} then {B}
    """,
    """
    prior to {B:ing}, {S} {A}
    having finished {A:ing}, {S} {B}
    """,
)

WORD_BANKS: dict[str, Bank] = {
    b.name: b
    for b in (
        COUNT_ADVERB, COUNT_NOUN, *SIDE_BANKS.values(), *DIRECTION_BANKS.values(), SPEED, STYLE,
        STYLE_ADJECTIVE, SUBJECT, FRAME, FRAGMENT, JOIN, JOIN_LAST, OPENER, FRONTED,
    )
}  # fmt: skip
