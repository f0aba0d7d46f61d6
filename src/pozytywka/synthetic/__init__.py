"""The synthetic Pozytywka service: a behaviour model that writes dumps and plays A/B weeks.

``world`` builds the service (catalogue, users, weekly appeal) from the
params; ``simulate`` plays weeks of listening; ``dirt`` makes the dump look
like a real one; ``dump`` writes the five JSON-lines files of DESIGN §3.
"""

from .simulate import EVENT_TYPES, simulate_history, simulate_week
from .world import World, build_world

__all__ = ["EVENT_TYPES", "World", "build_world", "simulate_history", "simulate_week"]
