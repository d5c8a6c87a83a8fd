from fractions import Fraction

import av
import numpy as np
import pytest
from evaluate_helpers import hand_chunk

from dexego.drawing.overlay import (
    OverlayStyle,
    Trajectory,
    draw_trajectories,
    encode_png,
    overlay_chunk,
    overlay_video_frames,
    project_points,
    save_png,
    write_overlay_video,
    write_video,
)
from dexego.errors import InputError
from dexego.geometry import Intrinsics

K = Intrinsics(fx=100.0, fy=100.0, cx=32.0, cy=32.0, width=64, height=64)
RED = (255, 0, 0)


def blank(h=64, w=64):
    return np.zeros((h, w, 3), np.uint8)


def test_a_path_is_drawn_where_it_projects_and_not_behind_the_camera():
    # (0, 0, 1) -> pixel (32, 32); (0.1, 0, 1) -> (42, 32); (0, 0, -1) is behind the camera.
    path = Trajectory(np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [0.0, 0.0, -1.0]]), RED, width=1)
    out = draw_trajectories(blank(), [path], K)
    assert (out[32, 32:43] == RED).all()  # the segment between the two visible points
    red = (out == RED).all(-1)
    assert red[:, :26].sum() == 0 and red[:, 45:].sum() == 0  # nothing drawn towards the point behind
    pixels, front = project_points(path.points, K)
    np.testing.assert_allclose(pixels[:2], [[32, 32], [42, 32]])
    assert front.tolist() == [True, True, False]


def test_invalid_points_break_the_path_and_the_input_is_not_modified():
    frame = blank()
    points = np.array([[-0.2, 0.0, 1.0], [0.0, 0.0, 1.0], [0.2, 0.0, 1.0]])
    out = draw_trajectories(frame, [Trajectory(points, RED, 1, valid=np.array([True, False, True]))], K)
    assert not frame.any()
    red = (out == RED).all(-1)
    assert red[32, 16:50].sum() == 0  # no segment from x=12 to 32 or 32 to 52 (dots have radius 2)
    assert red[30:35, 10:15].any()  # the first point's dot


def test_overlay_chunk_draws_both_kinds_in_their_colours():
    style = OverlayStyle(legend=False)
    target = hand_chunk(wrist=((-0.05, 0.0, 0.5), (0.05, 0.0, 0.5)))
    predicted = hand_chunk(wrist=((-0.05, 0.05, 0.5), (0.05, 0.05, 0.5)))
    out = overlay_chunk(blank(), K, predicted, target, style=style)
    assert (out == style.target_wrist).all(-1).any() and (out == style.predicted_wrist).all(-1).any()
    # A hand invalid over the whole chunk is not drawn.
    valid = np.zeros((30, 2), bool)
    assert not overlay_chunk(blank(), K, predicted, target, valid, style=style).any()
    with pytest.raises(ValueError, match="predicted chunk"):
        overlay_chunk(blank(), K, predicted[:, :40])


def test_png_and_video_round_trip(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, size=(6, 63, 65, 3), dtype=np.uint8)  # odd size
    chunks = np.stack([hand_chunk()] * 6)
    overlays = overlay_video_frames(frames, np.tile(K.vector, (6, 1)), chunks, chunks)
    assert overlays.shape == frames.shape and not np.array_equal(overlays, frames)
    path = write_overlay_video(tmp_path / "v" / "overlay.mp4", frames, K, chunks, chunks, fps=15)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        rate = container.streams.video[0].average_rate
    assert len(decoded) == 6 and decoded[0].shape == (64, 66, 3) and rate == 15
    assert list(path.parent.iterdir()) == [path]  # no temporary left behind
    ntsc = write_video(tmp_path / "ntsc.mp4", frames, fps=29.97)  # a fractional rate is kept exactly
    with av.open(str(ntsc)) as container:
        assert container.streams.video[0].average_rate == Fraction("29.97") and container.streams.video[0].frames == 6
    png = save_png(tmp_path / "f.png", overlays[0])
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(png)), overlays[0])
    with pytest.raises(InputError, match="frame"):
        encode_png(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="chunks for"):
        overlay_video_frames(frames, K, chunks[:2])
