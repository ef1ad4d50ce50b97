"""relsim: an agent-based test of Kotler's matrix of customer relationship levels."""

from sim.config import Config, ConfigError, load
from sim.levels import LEVEL_NAMES, LEVELS, Level
from sim.model import RelationshipModel

__all__ = ["LEVELS", "LEVEL_NAMES", "Config", "ConfigError", "Level", "RelationshipModel", "load"]
__version__ = "0.1.0"
