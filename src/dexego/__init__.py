"""dexego: learn dexterous robot manipulation from egocentric human data."""

import os
import sys

__version__ = "0.1.0"

# MuJoCo picks its OpenGL backend when it is first imported. On a Linux machine with no display
# (a server, a container, CI) its default (GLFW) fails to open a window, so choose headless EGL
# unless the user chose a backend.
if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")
