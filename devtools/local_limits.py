"""The end-to-end configuration's output limits (shared with bench/local_model.py)."""

from __future__ import annotations

# Output limits per stage (tokens). JSON stages get room for their whole object; the
# report's context is kept short on purpose, so that it is cut off at its limit.
LIMITS = (
    "report:brief=220,report:context=24,report:outline=220,report:sections=140,"
    "report:recommendations=60,report:summary=50,"
    "starmap:organisation=40,starmap:learners=40,starmap:gaps=40,starmap:objectives=600,"
    "starmap:modalities=40,starmap:measurement=40,starmap:timeline=40,starmap:risks=40,"
    "starmap:summary=50"
)
