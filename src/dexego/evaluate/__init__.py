"""Evaluation: human motion prediction metrics, benchmark tables, scaling-law fits, trajectory overlays, reports."""

from dexego.drawing.overlay import (
    OverlayStyle,
    Trajectory,
    draw_trajectories,
    overlay_chunk,
    overlay_video_frames,
    save_png,
    write_overlay_video,
    write_video,
)
from dexego.evaluate.metrics_log import MetricsLog, read_metrics
from dexego.evaluate.motion import MotionErrors, MotionMetrics, motion_errors
from dexego.evaluate.policy_motion import HoldCurrentPose, MotionEvalConfig, evaluate_motion
from dexego.evaluate.report import ReportConfig, build_report, write_report
from dexego.evaluate.results import BenchmarkResults, TaskScore, load_results, parse_results
from dexego.evaluate.scaling import ScalingFit, ScalingPoint, fit_log_linear, load_points, plot_scaling
from dexego.evaluate.tables import Table, benchmark_tables

__all__ = [
    "BenchmarkResults",
    "HoldCurrentPose",
    "MetricsLog",
    "MotionErrors",
    "MotionEvalConfig",
    "MotionMetrics",
    "OverlayStyle",
    "ReportConfig",
    "ScalingFit",
    "ScalingPoint",
    "Table",
    "TaskScore",
    "Trajectory",
    "benchmark_tables",
    "build_report",
    "draw_trajectories",
    "evaluate_motion",
    "fit_log_linear",
    "load_points",
    "load_results",
    "motion_errors",
    "overlay_chunk",
    "overlay_video_frames",
    "parse_results",
    "plot_scaling",
    "read_metrics",
    "save_png",
    "write_overlay_video",
    "write_report",
    "write_video",
]
