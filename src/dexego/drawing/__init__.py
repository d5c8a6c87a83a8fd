"""Drawing hand trajectories and action chunks over camera frames, and writing them as PNG images and videos.

Used by ``evaluate`` (prediction overlays), ``annotate`` (the frames shown to a captioner) and ``demo`` (reports).
"""
