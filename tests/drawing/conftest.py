import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "evaluate"))  # evaluate_helpers: hand chunks with known geometry
