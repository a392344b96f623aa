"""vidu-lipsync-mock: a local emulator of the Modellix `vidu/lip-sync` API.

The public surface is re-exported here; everything else is an implementation module.
"""

from .app import create_app
from .auth import make_api_key
from .clock import Clock, ManualClock, ScaledClock, SystemClock
from .config import ConfigError, MockConfig
from .errors import ApiError
from .mock import LipSyncMock
from .state import MockState
from .tasks import ByClock, ByPolls, Manual, Outcome, Progression, TaskSnapshot, TaskStatus

__all__ = [
    "ApiError",
    "ByClock",
    "ByPolls",
    "Clock",
    "ConfigError",
    "LipSyncMock",
    "Manual",
    "ManualClock",
    "MockConfig",
    "MockState",
    "Outcome",
    "Progression",
    "ScaledClock",
    "SystemClock",
    "TaskSnapshot",
    "TaskStatus",
    "create_app",
    "make_api_key",
]

__version__ = "0.1.0"
