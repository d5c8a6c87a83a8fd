import pytest
from synthetic_video import SceneConfig, make_task_video


@pytest.fixture(scope="session")
def task_video(tmp_path_factory):
    """Make (once per session) a synthetic pick-and-place video with known hands; returns (path, truth)."""
    made = {}

    def make(camera_motion: str = "static", **scene):
        key = (camera_motion, tuple(sorted(scene.items())))
        if key not in made:
            directory = tmp_path_factory.mktemp(f"video_{camera_motion}")
            path = directory / f"task_{camera_motion}.mp4"
            made[key] = (path, make_task_video(path, SceneConfig(camera_motion=camera_motion, **scene)))
        return made[key]

    return make
