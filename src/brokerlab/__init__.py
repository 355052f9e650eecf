"""brokerlab: a small, faithful, deterministic message broker to learn messaging with.

Each module holds one idea of the course and is named with the handbook's word for it. The names
below are the ones a notebook reaches for most; they are imported on first use, so
``import brokerlab`` stays quick and does not load matplotlib until a picture is drawn.

==================  ======================================================================
idea                names
==================  ======================================================================
time and messages   ``VirtualClock``, ``RealClock``, ``Message``, ``Delivery``, ``BrokerError``
queues              ``Queue``, ``Consumer`` (``brokerlab.queue``)
exchanges, pub/sub  ``Broker``, ``Topic``, ``topic_matches``, ``headers_match``
the log             ``Log``, ``murmur2``, ``partition_for_key``
guarantees          ``History``, ``Event``, ``check``, ``minimal_core``
simulation          ``Scenario``, ``Producers``, ``Consumers``, ``BrokerSetup``, ``Fault``,
                    ``Faults``, ``Scheduler``, ``simulate``, ``compare``,
                    ``shortest_counterexample``
pictures            ``draw_sequence``, ``plot_depth``, ``plot_lag``, ``draw_topology``
widgets             ``live_figure`` (a fast picture that redraws as sliders move),
                    ``replay`` (step through a history, event by event)
the three systems   ``comparison_table`` (Kafka, RabbitMQ, SQS measured by probes)
sync vs async       ``run_chain``, ``Outage`` (``call_chain``); ``simulate_spike``
                    (``load_leveling``)
who gets what       ``point_to_point``, ``publish_subscribe``, ``fanout_exchange``,
                    ``log_groups`` (``messaging_patterns``)
stream vs batch     ``windows_for``, ``TumblingWindows``, ``HoppingWindows``,
                    ``SessionWindows``, ``StreamTime``, ``StreamProcessor``, ``BatchJob``,
                    ``LambdaArchitecture``, ``KappaArchitecture``
==================  ======================================================================
"""

from __future__ import annotations

import importlib
from typing import Any

from .clock import Clock, RealClock, VirtualClock
from .errors import BrokerError
from .message import Delivery, Message

__version__ = "0.1.0"

_LAZY = {
    "Queue": "queue",
    "Consumer": "queue",
    "Broker": "broker",
    "Topic": "pubsub",
    "topic_matches": "routing",
    "headers_match": "routing",
    "Log": "log",
    "murmur2": "partitioning",
    "partition_for_key": "partitioning",
    "History": "history",
    "Event": "history",
    "check": "checker",
    "minimal_core": "checker",
    "Scenario": "scenario",
    "Producers": "scenario",
    "Consumers": "scenario",
    "BrokerSetup": "scenario",
    "Fault": "faults",
    "Faults": "faults",
    "Scheduler": "scheduler",
    "simulate": "simulation",
    "compare": "simulation",
    "shortest_counterexample": "counterexample",
    "draw_sequence": "diagram",
    "plot_depth": "plots",
    "plot_lag": "plots",
    "draw_topology": "topology",
    "live_figure": "widgets",
    "replay": "history_replay",
    "run_chain": "call_chain",
    "Outage": "call_chain",
    "simulate_spike": "load_leveling",
    "point_to_point": "messaging_patterns",
    "publish_subscribe": "messaging_patterns",
    "fanout_exchange": "messaging_patterns",
    "log_groups": "messaging_patterns",
    "windows_for": "windows",
    "TumblingWindows": "windows",
    "HoppingWindows": "windows",
    "SessionWindows": "windows",
    "StreamTime": "watermark",
    "StreamProcessor": "stream",
    "BatchJob": "batch",
    "LambdaArchitecture": "lambda_architecture",
    "KappaArchitecture": "lambda_architecture",
    "comparison_table": "comparison",
}

__all__ = [
    "BrokerError",
    "Clock",
    "Delivery",
    "Message",
    "RealClock",
    "VirtualClock",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'brokerlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
