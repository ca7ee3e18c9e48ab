"""InterAnimate: region-aware diffusion for realistic hand-face interaction animation.

Nothing here downloads weights or data: every model is loaded from a local path the user gives, or from the
small models bundled in ``interanimate/assets``.
"""

__version__ = "0.1.0"
