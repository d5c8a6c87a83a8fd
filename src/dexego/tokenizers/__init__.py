"""Action tokenizers for the motion-token head: residual VQ (METIS) and FAST (DCT + BPE)."""

from dexego.tokenizers.base import ActionTokenizer
from dexego.tokenizers.fast import FASTConfig, FASTTokenizer
from dexego.tokenizers.fit import RoundTripReport, fit_tokenizer, round_trip_report
from dexego.tokenizers.loading import load_tokenizer
from dexego.tokenizers.rvq import RVQConfig, RVQTokenizer

__all__ = [
    "ActionTokenizer",
    "FASTConfig",
    "FASTTokenizer",
    "RVQConfig",
    "RVQTokenizer",
    "RoundTripReport",
    "fit_tokenizer",
    "load_tokenizer",
    "round_trip_report",
]
