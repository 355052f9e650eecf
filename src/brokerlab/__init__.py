"""brokerlab: a small, faithful, deterministic message broker to learn messaging with.

Each module holds one idea of the course and is named with the handbook's word for it:
``clock``, ``message``, ``queue``, ``routing``, ``exchange``, ``pubsub``, ``log``,
``partitioning``, ``consumer_group``, ``history``, ``checker``, ``simulation``, ``windows``...
"""

from .clock import Clock, RealClock, VirtualClock
from .errors import BrokerError
from .message import Delivery, Message

__version__ = "0.1.0"

__all__ = ["BrokerError", "Clock", "Delivery", "Message", "RealClock", "VirtualClock", "__version__"]
