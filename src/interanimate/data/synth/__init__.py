"""SynthHF: seeded procedural hand-face interaction clips in the InterHF layout (all 18 classes).

Each identity has its own look; each clip its own background, lighting, camera shake, speed, amplitude and contact
force; contact deforms the face (pokes dent, pinches squeeze, strokes drag, swipes occlude). Same seed, same bytes.
"""

from interanimate.data.synth.identity import IdentityLook, identity_embedding, sample_identity  # noqa: F401
from interanimate.data.synth.render import SynthClip, SynthConfig, render_clip  # noqa: F401
from interanimate.data.synth.writer import write_dataset  # noqa: F401
from interanimate.data.synth.preview import write_preview  # noqa: F401
