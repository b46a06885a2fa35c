"""Golden sets: load, validate, hash, check leakage, import from public formats."""

from ._leakage import find_leaks, input_key
from ._load import DEFAULT_REFUSAL_PATTERNS, GoldenSet, Manifest, load_golden_set, validator_for
from ._normalize import normalize_input
from ._write import write_golden_set

__all__ = [
    "DEFAULT_REFUSAL_PATTERNS",
    "GoldenSet",
    "Manifest",
    "find_leaks",
    "input_key",
    "load_golden_set",
    "normalize_input",
    "validator_for",
    "write_golden_set",
]
