"""Executors: who runs the planned trials. Adding one is a module with an Executor subclass
(base.py) and one line below."""

from __future__ import annotations

from actsearch.executors.base import Executor, Log, describe_result
from actsearch.executors.fused import FusedExecutor
from actsearch.executors.local import LocalExecutor
from actsearch.executors.ray.driver import RayExecutor
from actsearch.registry import Registry

EXECUTORS: Registry[type[Executor]] = Registry("executor")
EXECUTORS.register(LocalExecutor.name, LocalExecutor)
EXECUTORS.register(FusedExecutor.name, FusedExecutor)
EXECUTORS.register(RayExecutor.name, RayExecutor)


def get_executor(name: str) -> Executor:
    return EXECUTORS.get(name)()


__all__ = ["EXECUTORS", "Executor", "Log", "describe_result", "get_executor"]
