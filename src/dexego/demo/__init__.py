"""`dexego demo`: the whole story on the built-in benchmark, from synthetic human data to an HTML report.

Human demonstrations -> human pretraining -> robot fine-tuning -> SR/PSR on seen
and unseen configurations, against the same model fine-tuned without human
pretraining -> ``OUT/report.html``. See docs/demo.md.
"""

from dexego.demo.pipeline import DemoOptions, run_demo, stage_names
from dexego.demo.profile import Arm, DataPlan, DemoProfile, EvalPlan, load_profile, profile_names

__all__ = [
    "Arm",
    "DataPlan",
    "DemoOptions",
    "DemoProfile",
    "EvalPlan",
    "load_profile",
    "profile_names",
    "run_demo",
    "stage_names",
]
