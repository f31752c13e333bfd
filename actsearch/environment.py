"""What produced a result: software versions and the device, recorded in env.json."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import keras
import numpy
import pandas as pd
import tensorflow as tf


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), for every figure that depends on it."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Versions and device, so a result can be traced to what produced it."""
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "devices": gpus or ["CPU"],
    }
