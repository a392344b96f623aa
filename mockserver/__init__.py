"""vidu-lipsync-mock: a local emulator of the Modellix `vidu/lip-sync` API.

The public surface is re-exported here; everything else is an implementation module.
"""

from vidu_lipsync_mock.config import ConfigError, MockConfig
from vidu_lipsync_mock.http.app import create_app
from vidu_lipsync_mock.mock import LipSyncMock
from vidu_lipsync_mock.service.clock import Clock, ManualClock, ScaledClock, SystemClock
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import make_api_key
from vidu_lipsync_mock.service.tasks import (
    ByClock,
    ByPolls,
    Manual,
    Outcome,
    Progression,
    TaskSnapshot,
    TaskStatus,
)
from vidu_lipsync_mock.state import MockState

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

__version__ = "0.3.1"
