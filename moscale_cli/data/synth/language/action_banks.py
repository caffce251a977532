"""How people say each action: one bank per action name, training phrasings and held-out phrasings.

Entries are verb phrases in the third person singular present ("walks forward"); the renderer turns them
into other forms ("walking forward", "walked forward", "walk forward"): the first word, and any word right
after "and", must be a verb of :data:`~moscale_cli.data.synth.language.lexicon.VERBS`. See
:mod:`~moscale_cli.data.synth.language.grammar` for guards and slots. Every phrasing of an action says
what the program requires of it (its count, side, direction, angle), except the attributes a caption may
leave out (:data:`OPTIONAL`).

Held-out phrasings are chosen to be as natural as the training ones, with words and constructions the
training phrasings never use; the tests check that no training caption contains one.
"""

from __future__ import annotations

from moscale_cli.data.synth.language.grammar import Bank, bank
from moscale_cli.data.synth.language.word_banks import DIRECTION_BANKS
from moscale_cli.data.synth.vocabulary import VOCABULARY, check_registry

# Views of the action table (data/synth/vocabulary.py), which says these per action:
# attributes a caption may leave out ("turns around", "walks in a circle", "hops on one leg"),
OPTIONAL: dict[str, tuple[str, ...]] = {n: d.caption_optional for n, d in VOCABULARY.items() if d.caption_optional}
# actions whose name fixes the direction: every phrasing says it ("walks backward", "leaps forward"),
IMPLIED_DIRECTION: dict[str, str] = {n: d.implied_direction for n, d in VOCABULARY.items() if d.implied_direction}
# and which direction bank (word_banks.DIRECTION_BANKS) fills ``{dir}``.
DIRECTION_FAMILY: dict[str, str] = {n: d.direction_words for n, d in VOCABULARY.items() if d.direction_words}

_A: list[Bank] = [
    bank(
        "walk_forward",
        """
        walks forward
        walks forwards
        walks straight ahead
        walks ahead
        walks in a straight line
        moves forward
        takes a few steps forward
        walks a few steps ahead
        paces forward
        walks along
        heads forward on foot
        steps forward
        [speed=slow] strolls forward
        [speed=slow] ambles ahead
        [speed=fast] walks briskly forward
        """,
        """
        strides ahead
        advances on foot
        treks onward
        makes {own} way forward on foot
        [speed=slow] saunters forward
        """,
    ),
    bank(
        "walk_backward",
        """
        walks backward
        walks backwards
        walks in reverse
        steps backward
        takes steps backward
        moves backwards
        backs up
        backs away
        takes a few steps backwards
        goes backward
        walks back with small steps
        paces backward
        moves back on foot
        """,
        """
        retreats step by step
        walks rearward
        paces in reverse
        treads backward
        """,
    ),
    bank(
        "walk_sideways",
        """
        walks sideways {dir}
        moves sideways {dir}
        walks {dir} sideways
        shuffles sideways {dir}
        steps sideways {dir}
        moves {dir} with sideways steps
        shuffles {dir}
        goes sideways {dir}
        takes sideways steps {dir}
        slides sideways {dir}
        walks sideways {dir} while facing forward
        moves sideways {dir} on foot
        """,
        """
        sidles {dir}
        crab-walks {dir}
        travels laterally {dir}
        edges sideways {dir}
        """,
    ),
    bank(
        "walk_circle",
        """
        [angle=None] walks in a circle {dir}
        [angle=None] walks in a circle
        [angle=None] walks around in a circle
        [angle=None] walks around in a circle {dir}
        [angle=None] walks in a circular path {dir}
        [angle=None] walks in a full circle
        [angle=None] walks a full circle {dir}
        [angle=None] walks around in a loop
        [angle=None] circles around {dir}
        [angle=None] goes round in a circle
        [angle=None] goes around in a circle {dir}
        [angle=None] walks in a round path
        [angle=180] walks in a half circle {dir}
        [angle=180] walks a semicircle {dir}
        [angle=180] walks halfway around a circle
        [angle=180] walks around half a circle {dir}
        [angle=90] walks in an arc {dir}
        [angle=90] walks along a curve {dir}
        [angle=90] walks in a quarter circle {dir}
        """,
        """
        [angle=None] makes a circuit on foot {dir}
        [angle=None] traces a ring on foot
        [angle=None] paces around a ring {dir}
        [angle=None] does a lap around a ring
        [angle=180] follows a semicircular route on foot {dir}
        [angle=90] veers along a gentle bend on foot {dir}
        """,
    ),
    bank(
        "jog_forward",
        """
        jogs forward
        jogs forwards
        jogs ahead
        jogs straight ahead
        jogs along
        does a light jog forward
        trots forward
        runs at an easy pace forward
        jogs forward at a steady pace
        [speed=slow] jogs gently forward
        runs lightly forward
        jogs in a straight line
        """,
        """
        lopes forward
        moves ahead at a trot
        breaks into a jog
        jogs onward
        """,
    ),
    bank(
        "jog_backward",
        """
        jogs backward
        jogs backwards
        jogs in reverse
        backpedals
        runs backward at an easy pace
        runs backwards
        jogs backward at a steady pace
        moves backward at a jog
        does a backward jog
        """,
        """
        trots in reverse
        jogs rearward
        lopes backward
        scampers backward
        """,
    ),
    bank(
        "jog_circle",
        """
        [angle=None] jogs in a circle {dir}
        [angle=None] jogs in a circle
        [angle=None] jogs around in a circle
        [angle=None] jogs in a loop {dir}
        [angle=None] jogs a full circle {dir}
        [angle=None] jogs around in a circular path {dir}
        [angle=None] trots in a circle {dir}
        [angle=None] jogs round in a circle
        [angle=None] jogs around in a loop
        [angle=None] goes round in a circle at a jog
        [angle=None] jogs in a circular path
        [angle=180] jogs in a half circle {dir}
        [angle=180] jogs a semicircle {dir}
        [angle=90] jogs in an arc {dir}
        [angle=90] jogs along a curve {dir}
        """,
        """
        [angle=None] jogs a lap around a ring
        [angle=None] lopes around in a ring {dir}
        [angle=None] jogs a circuit {dir}
        [angle=None] does a jogging lap around a ring {dir}
        [angle=180] lopes along a semicircular route {dir}
        [angle=90] jogs around a gentle bend {dir}
        """,
    ),
    bank(
        "run_forward",
        """
        runs forward
        runs forwards
        runs straight ahead
        runs ahead
        dashes forward
        races forward
        rushes forward
        runs in a straight line
        [speed=fast] sprints forward
        [speed=fast] sprints ahead
        """,
        """
        bolts ahead
        charges forward
        hurtles forward
        [speed=fast] tears off ahead at full tilt
        """,
    ),
    bank(
        "run_circle",
        """
        [angle=None] runs in a circle {dir}
        [angle=None] runs in a circle
        [angle=None] runs around in a circle
        [angle=None] runs in a loop {dir}
        [angle=None] runs a full circle {dir}
        [angle=None] runs around in a circular path
        [angle=None] races around in a circle {dir}
        [angle=None] runs round in a circle
        [angle=None] runs in a circular path {dir}
        [angle=None] runs around in a loop
        [angle=None speed=fast] sprints in a circle
        [angle=180] runs in a half circle {dir}
        [angle=180] runs a semicircle {dir}
        [angle=90] runs in an arc {dir}
        [angle=90] runs along a curve {dir}
        """,
        """
        [angle=None] dashes around a ring {dir}
        [angle=None] runs a circuit {dir}
        [angle=None] charges around in a loop
        [angle=None] bolts around a ring
        [angle=180] dashes along a semicircular route {dir}
        [angle=90] runs around a gentle bend {dir}
        """,
    ),
    bank(
        "march",
        """
        marches in place
        marches on the spot
        marches in place lifting the knees high
        walks in place with high knees
        marches on the spot with high knees
        marches without moving forward
        stomps in place
        walks on the spot
        marches in place with {poss} knees high
        marches like a soldier in place
        does a march on the spot
        """,
        """
        parades on the spot
        high-steps in place
        marks time
        tramps on the spot
        """,
    ),
    bank(
        "climb",
        """
        walks forward as if climbing stairs
        takes high steps as if climbing stairs
        climbs imaginary stairs
        steps up as if going up stairs
        climbs up stairs
        walks up a flight of stairs
        goes up some steps
        climbs up steps
        climbs a flight of stairs
        walks up stairs
        goes up the stairs
        """,
        """
        ascends a staircase
        mounts imaginary steps
        goes upstairs
        scales a set of steps
        """,
    ),
    bank(
        "side_step",
        """
        takes {n:step/steps} {dir}
        steps {dir} {c}
        takes {n:step/steps} sideways {dir}
        does {n:side step/side steps} {dir}
        steps sideways {dir} {c}
        moves {dir} {c} with a side step
        shuffles {dir} {c}
        takes {n:sideways step/sideways steps} {dir}
        steps out {dir} {c}
        takes {n:side step/side steps} {dir}
        """,
        """
        sidesteps {dir} {c}
        makes {n:lateral step/lateral steps} {dir}
        scoots {dir} {c}
        shifts {dir} {c} with a lateral step
        """,
    ),
    bank(
        "turn",
        """
        [angle=90] turns {dir}
        [angle=90] makes a quarter turn {dir}
        [angle=90] turns ninety degrees {dir}
        [angle=90] turns 90 degrees {dir}
        [angle=90] rotates a quarter turn {dir}
        [angle=90] pivots {dir}
        [angle=180] turns around
        [angle=180] turns around {dir}
        [angle=180] turns to face the opposite direction
        [angle=180] makes a half turn {dir}
        [angle=180] turns 180 degrees {dir}
        [angle=180] turns back the other way
        [angle=180] does an about-face
        [angle=180] turns on the spot to face backward
        [angle=180] does a 180
        [angle=360] turns all the way around
        [angle=360] turns a full circle {dir}
        [angle=360] does a full turn {dir}
        [angle=360] turns around completely
        [angle=360] turns 360 degrees {dir}
        [angle=360] makes a complete rotation {dir}
        """,
        """
        [angle=90] swivels a quarter of the way {dir}
        [angle=90] wheels {dir} by ninety degrees
        [angle=180] swings round to face behind
        [angle=180] reverses direction to face behind
        [angle=180] about-turns {dir}
        [angle=360] does a 360 {dir}
        [angle=360] makes one whole revolution {dir}
        """,
    ),
    bank(
        "spin",
        """
        spins around {c}
        spins {c} {dir}
        spins around {dir} {c}
        twirls around {c}
        twirls {dir} {c}
        does {n:spin/spins} {dir}
        does {n:full spin/full spins}
        spins in place {c}
        spins on the spot {dir} {c}
        twirls {c} on the spot
        spins all the way around {c}
        does {n:twirl/twirls} {dir}
        """,
        """
        pirouettes {c}
        whirls around {c} {dir}
        does {n:pirouette/pirouettes} {dir}
        spins like a top {c}
        """,
    ),
    bank(
        "jump_in_place",
        """
        jumps {c}
        jumps up and down {c}
        jumps in place {c}
        does {n:jump/jumps} in place
        jumps on the spot {c}
        does {n:vertical jump/vertical jumps}
        jumps straight up {c}
        leaps up {c}
        makes {n:jump/jumps} on the spot
        jumps into the air {c}
        """,
        """
        bounces up and down {c}
        springs into the air {c}
        performs {n:vertical leap/vertical leaps}
        vaults upward {c} without moving
        """,
    ),
    bank(
        "jump_forward",
        """
        jumps forward {c}
        leaps forward {c}
        makes {n:jump/jumps} forward
        does {n:forward jump/forward jumps}
        jumps ahead {c}
        does {n:long jump/long jumps}
        takes {n:jump/jumps} forward
        jumps forward with both feet {c}
        leaps ahead {c}
        does {n:standing jump/standing jumps} forward
        jumps a short distance forward {c}
        """,
        """
        bounds forward {c}
        does {n:broad jump/broad jumps}
        springs ahead {c}
        launches forward {c}
        """,
    ),
    bank(
        "hop",
        """
        hops {side:on:leg} {c}
        hops on one leg {c}
        hops {c} {side:on:leg}
        jumps {side:on:leg} {c}
        does {n:hop/hops} {side:on:leg}
        hops {c} on one foot
        does {n:one-legged hop/one-legged hops}
        hops on a single leg {c}
        hops {c} {side:on:leg} in place
        jumps on one leg {c}
        hops up and down on one foot {c}
        """,
        """
        does {n:single-leg hop/single-leg hops} {side:on:leg}
        springs up {side:on:leg} {c}
        jumps {c} while standing {side:on:leg}
        does {n:one-footed bounce/one-footed bounces}
        """,
    ),
    bank(
        "jumping_jacks",
        """
        does {n:jumping jack/jumping jacks}
        performs {n:jumping jack/jumping jacks}
        does {n:star jump/star jumps}
        does {n:jack/jacks}
        jumps spreading {poss} arms and legs {c}
        jumps with arms and legs spreading apart {c}
        jumps and opens {poss} arms and legs wide {c}
        does {n:jumping jack/jumping jacks} in place
        performs {n:star jump/star jumps}
        does {n:star jump/star jumps} on the spot
        jumps legs apart and arms up {c}
        """,
        """
        does {n:side-straddle hop/side-straddle hops}
        does {n:spread-eagle jump/spread-eagle jumps}
        leaps into a star shape {c}
        leaps and spreads out like a starfish {c}
        """,
    ),
    bank(
        "wave",
        """
        waves {side:obj:hand} {c}
        waves {side:with:hand} {c}
        waves {c} {side:with:hand}
        raises {side:obj:hand} and waves {c}
        waves hello {side:with:hand} {c}
        waves goodbye {side:with:hand} {c}
        gives {n:wave/waves} {side:with:hand}
        waves {side:obj:hand} back and forth {c}
        waves {side:obj:hand} in the air {c}
        waves at someone {side:with:hand} {c}
        waves {side:obj:hand} side to side {c}
        """,
        """
        waggles {side:obj:hand} in greeting {c}
        signals hello {side:with:hand} {c}
        does {n:friendly wave/friendly waves} {side:with:hand}
        motions hi {side:with:hand} {c}
        """,
    ),
    bank(
        "raise_arms",
        """
        [dir=up] raises {side:obj:arm} above {poss} head
        [dir=up] raises {side:obj:arm} up
        [dir=up] lifts {side:obj:arm} up over {poss} head
        [dir=up] puts {side:obj:arm} up in the air
        [dir=up] holds {side:obj:arm} up overhead
        [dir=up] raises {side:obj:arm} up and lowers {obj} again
        [dir=forward] raises {side:obj:arm} forward
        [dir=forward] holds {side:obj:arm} out in front
        [dir=forward] lifts {side:obj:arm} to the front
        [dir=forward] extends {side:obj:arm} straight ahead
        [dir=forward] raises {side:obj:arm} to the front and lowers {obj} again
        [dir=sideways] raises {side:obj:arm} to the side
        [dir=sideways] holds {side:obj:arm} out to the side
        [dir=sideways] stretches {side:obj:arm} out sideways
        [dir=sideways] lifts {side:obj:arm} out sideways to shoulder height
        [dir=sideways] raises {side:obj:arm} to the side and lowers {obj} again
        """,
        """
        [dir=up] hoists {side:obj:arm} skyward
        [dir=up] elevates {side:obj:arm} over {poss} head
        [dir=forward] points {side:obj:arm} horizontally in front of {poss} chest
        [dir=forward] brings {side:obj:arm} up to chest height ahead of {poss} body
        [dir=sideways] spreads {side:obj:arm} out laterally
        [dir=sideways] extends {side:obj:arm} horizontally outward
        """,
    ),
    bank(
        "clap",
        """
        claps {c}
        claps {poss} hands {c}
        gives {n:clap/claps}
        claps {poss} hands together {c}
        does {n:clap/claps}
        brings {poss} hands together {c}
        claps in front of {poss} chest {c}
        applauds {c}
        claps {poss} hands {c} in front of {own} body
        does {n:hand clap/hand claps}
        claps along {c}
        """,
        """
        strikes {poss} palms together {c}
        smacks {poss} palms together {c}
        does {n:handclap/handclaps}
        brings {poss} palms together with a smack {c}
        """,
    ),
    bank(
        "squat",
        """
        squats {c}
        does {n:squat/squats}
        squats down and stands back up {c}
        performs {n:squat/squats}
        does {n:deep knee bend/deep knee bends}
        bends {poss} knees and squats down {c}
        squats down low {c}
        drops into a squat and rises {c}
        does {n:knee bend/knee bends}
        lowers {poss} hips into a squat {c}
        """,
        """
        does {n:air squat/air squats}
        sinks down onto {poss} heels and back up {c}
        dips {poss} hips toward the floor and rises again {c}
        does {n:bodyweight squat/bodyweight squats}
        """,
    ),
    bank(
        "sit_down",
        """
        sits down
        sits down as if on a chair
        takes a seat
        lowers down into a seated position
        sits on a chair
        sits down on a seat
        lowers {own} body onto a chair
        sits down onto an invisible chair
        goes from standing to sitting
        lowers into a chair
        takes a seat on a chair
        """,
        """
        plops down onto a chair
        settles into a chair
        perches on a stool
        sinks into a chair
        """,
    ),
    bank(
        "stand_up",
        """
        stands up
        gets up
        rises from a seated position
        stands up from the chair
        gets up from a chair
        rises to {own} feet
        gets to {own} feet
        stands up from sitting
        stands up from a chair
        gets up from sitting
        rises up from the seat
        """,
        """
        hauls {own} body up from the chair
        rises out of the seat
        straightens up from sitting
        pushes off the chair to stand
        """,
    ),
    bank(
        "crouch",
        """
        crouches down
        crouches down and stands back up
        crouches low for a moment
        crouches down briefly and gets up again
        ducks down low
        gets down low and comes back up
        crouches and rises again
        crouches down low
        bends down into a crouch and rises
        crouches for a moment and stands again
        """,
        """
        hunkers down
        stoops down low and rises
        cowers low for a moment
        drops onto {own} haunches briefly
        """,
    ),
    bank(
        "kick",
        """
        kicks {side:with:leg} {c}
        kicks {c} {side:with:leg}
        does {n:kick/kicks} {side:with:leg}
        kicks forward {side:with:leg} {c}
        kicks out {side:with:leg} {c}
        kicks {side:obj:leg} forward {c}
        throws {n:kick/kicks} {side:with:leg}
        does {n:front kick/front kicks} {side:with:leg}
        kicks out in front {side:with:leg} {c}
        does {n:kick/kicks} forward {side:with:leg}
        """,
        """
        boots an imaginary ball {side:with:leg} {c}
        lashes out {side:with:leg} {c}
        does {n:snap kick/snap kicks} {side:with:leg}
        swings {side:obj:leg} up in front {c}
        """,
    ),
    bank(
        "punch",
        """
        punches {side:with:fist} {c}
        throws {n:punch/punches} {side:with:fist}
        punches forward {c} {side:with:fist}
        punches the air {side:with:fist} {c}
        jabs {side:with:fist} {c}
        does {n:jab/jabs} {side:with:fist}
        throws {n:straight punch/straight punches} {side:with:fist}
        boxes {side:with:fist} {c}
        punches straight ahead {side:with:fist} {c}
        hits the air {side:with:fist} {c}
        """,
        """
        delivers {n:blow/blows} {side:with:fist}
        thrusts {side:obj:fist} forward {c}
        shadowboxes {side:with:fist} {c}
        socks the air {side:with:fist} {c}
        """,
    ),
    bank(
        "bow",
        """
        bows {c}
        bows forward {c}
        bends forward in a bow {c}
        [n=1] takes a bow
        does {n:bow/bows}
        bows down {c}
        bows at the waist {c}
        gives {n:bow/bows}
        bows politely {c}
        bends at the waist in a bow {c}
        """,
        """
        inclines {poss} upper body in a bow {c}
        makes {n:formal bow/formal bows}
        bobs forward respectfully {c}
        dips {poss} head and torso respectfully {c}
        """,
    ),
    bank(
        "stretch",
        """
        [dir=up] stretches {poss} arms up over {poss} head
        [dir=up] stretches upward
        [dir=up] reaches up high and stretches
        [dir=up] stretches {poss} arms overhead
        [dir=up] reaches for the sky
        [dir=up] does an overhead stretch
        [dir=sideways] stretches {poss} arms overhead and leans to the left and right
        [dir=sideways] does a side stretch with the arms up
        [dir=sideways] stretches from side to side with raised arms
        [dir=sideways] leans from side to side with {poss} arms up
        """,
        """
        [dir=up] extends {poss} whole body toward the ceiling
        [dir=up] lengthens {poss} spine reaching skyward
        [dir=sideways] bends {poss} torso left and right with arms overhead
        [dir=sideways] sways {poss} upper body to each side with hands up high
        """,
    ),
    bank(
        "throw",
        """
        throws something {side:with:hand}
        throws a ball {side:with:hand}
        makes a throwing motion {side:with:hand}
        throws overhand {side:with:hand}
        pitches a ball {side:with:hand}
        tosses a ball {side:with:hand}
        throws an imaginary ball {side:with:hand}
        mimes throwing a ball {side:with:hand}
        throws a ball overhand {side:with:hand}
        does a throwing motion {side:with:hand}
        """,
        """
        hurls an object {side:with:hand}
        lobs something {side:with:hand}
        flings an imaginary stone {side:with:hand}
        heaves an object {side:with:hand}
        """,
    ),
    bank(
        "idle",
        """
        stands still
        stands in place
        stands and looks around
        waits in place
        stands there
        stands without moving
        stays still
        remains standing in place
        stands idle
        stands around
        """,
        """
        lingers on the spot
        loiters about
        stays motionless
        waits patiently
        """,
    ),
    bank(
        "arm_circles",
        """
        circles {side:obj:arm} {c}
        makes {n:arm circle/arm circles} {side:with:arm}
        [n=1] rotates {side:obj:arm} in a circle
        [n>=2] rotates {side:obj:arm} in circles {c}
        does {n:arm circle/arm circles} {side:with:arm}
        swings {side:obj:arm} around in circles {c}
        rolls {side:obj:arm} in big circles {c}
        makes {n:circle/circles} with {side:obj:arm}
        rotates {side:obj:arm} around {c}
        """,
        """
        windmills {side:obj:arm} {c}
        revolves {side:obj:arm} at the shoulder {c}
        makes {n:circular arm swing/circular arm swings} {side:with:arm}
        cranks {side:obj:arm} around {c}
        """,
    ),
]

ACTION_BANKS: dict[str, Bank] = {b.name: b for b in _A}
check_registry("phrasing bank", "name", ACTION_BANKS)
check_registry("direction words", "direction_words", DIRECTION_BANKS, optional=True)
