"""The end-to-end configuration's output limits (shared with bench/local_model.py)."""

from __future__ import annotations

# Output limits per stage (tokens). JSON stages get room for their whole object; the
# report's context is kept short on purpose, so that it is cut off at its limit.
LIMITS = (
    "report:brief=220,report:context=24,report:outline=220,report:sections=260,"
    "report:recommendations=140,report:summary=110,"
    "starmap:organisation=70,starmap:learners=70,starmap:gaps=70,starmap:objectives=600,"
    "starmap:modalities=70,starmap:measurement=70,starmap:timeline=70,starmap:risks=70,"
    "starmap:summary=80"
)
