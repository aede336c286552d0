"""Log metrics and parameters from a training script run by Overdrive.

    import overdrive
    overdrive.log_param("lr", 0.01)
    for epoch in range(10):
        overdrive.log_metric("loss", loss, step=epoch)

Inside an Overdrive run, each call appends JSON lines to the file named by the
``OVERDRIVE_METRICS_FILE`` environment variable; the controller collects them.
Outside Overdrive (the variable unset) metrics are printed to stdout as
``name=value`` so that the script still runs and its output stays readable.

No dependencies beyond the standard library; Python 3.9 or newer.
"""

import json
import math
import numbers
import operator
import os
import sys
import threading
import time

__all__ = [
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "get_run_id",
    "get_run_dir",
    "get_metrics_file",
]

__version__ = "0.1.0"

_ENV_METRICS_FILE = "OVERDRIVE_METRICS_FILE"
_ENV_RUN_ID = "OVERDRIVE_RUN_ID"
_ENV_RUN_DIR = "OVERDRIVE_RUN_DIR"

# One lock for every write: threads of one process never interleave bytes of a line.
_lock = threading.Lock()
_fd = None
_fd_path = None


def _reset_after_fork():
    # A child forked while another thread held the lock would otherwise deadlock on it.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def get_run_id():
    """The id of the Overdrive run executing this script, or None outside Overdrive."""
    return os.environ.get(_ENV_RUN_ID) or None


def get_run_dir():
    """The run's folder (logs, outputs), or None outside Overdrive."""
    return os.environ.get(_ENV_RUN_DIR) or None


def get_metrics_file():
    """The file metrics are appended to, or None when they are printed to stdout."""
    return os.environ.get(_ENV_METRICS_FILE) or None


def _check_name(name):
    if not isinstance(name, str) or not name:
        raise TypeError("overdrive: a metric or param name must be a non-empty str, got %r" % (name,))
    return name


def _to_float(name, value):
    # bool, int, float, numpy scalars and 1-element tensors all convert through float();
    # strings are refused even when they look numeric, as they are almost always a mistake.
    if isinstance(value, (str, bytes)):
        raise TypeError("overdrive: metric %r must be a number, got %r" % (name, value))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            "overdrive: metric %r must be a number, got %s" % (name, type(value).__name__)
        ) from None


def _check_step(step):
    if step is None:
        return None
    if isinstance(step, bool):
        raise TypeError("overdrive: step must be an int, got a bool")
    try:
        step = operator.index(step)  # int and numpy integers
    except TypeError:
        raise TypeError("overdrive: step must be an int, got %r" % (step,)) from None
    if step < 0:
        raise ValueError("overdrive: step must be >= 0, got %d" % step)
    return step


def _json_number(v):
    # JSON has no NaN or Infinity: these travel as strings that the collector understands.
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def _jsonable(value):
    """A param value as plain JSON data; unknown objects become their str()."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _json_number(float(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars that are not numbers.Real
    if callable(item):
        try:
            return _jsonable(item())
        except Exception:
            pass
    return str(value)


def _format_for_stdout(v):
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _write_lines(path, lines):
    """Appends complete lines with one write() so a crash loses nothing already logged."""
    global _fd, _fd_path
    data = "".join(lines).encode("utf-8")
    with _lock:
        if _fd is None or _fd_path != path:
            if _fd is not None:
                os.close(_fd)
                _fd = None
            # O_APPEND: several processes of one run (e.g. data loader workers) append safely.
            _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            _fd_path = path
        view = memoryview(data)
        while view:
            written = os.write(_fd, view)
            view = view[written:]


def _dumps(obj):
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(", ", ": ")) + "\n"


def log_metrics(metrics, step=None):
    """Logs several metrics at once, e.g. ``log_metrics({"loss": 0.3, "acc": 0.9}, step=2)``.

    Without a step, each metric gets one more than its previous step (0 first).
    """
    if not isinstance(metrics, dict):
        raise TypeError("overdrive: log_metrics takes a dict of name -> number")
    step = _check_step(step)
    values = [(_check_name(k), _to_float(k, v)) for k, v in metrics.items()]
    if not values:
        return
    path = get_metrics_file()
    if path is None:
        print(" ".join("%s=%s" % (k, _format_for_stdout(v)) for k, v in values), flush=True)
        return
    now = time.time()
    lines = []
    for name, v in values:
        record = {"name": name, "value": _json_number(v)}
        if step is not None:
            record["step"] = step
        record["timestamp"] = now
        lines.append(_dumps(record))
    _write_lines(path, lines)


def log_metric(name, value, step=None):
    """Logs one value of a metric, e.g. ``log_metric("loss", 0.25, step=3)``."""
    log_metrics({_check_name(name): value}, step=step)


def log_params(params):
    """Logs several run parameters (any JSON-like values) at once."""
    if not isinstance(params, dict):
        raise TypeError("overdrive: log_params takes a dict of name -> value")
    items = [(_check_name(k), _jsonable(v)) for k, v in params.items()]
    if not items:
        return
    path = get_metrics_file()
    if path is None:
        # Not "name=value": the stdout collector would take a numeric param for a metric.
        for name, v in items:
            print("[overdrive] param %s: %s" % (name, json.dumps(v)), flush=True)
        return
    now = time.time()
    _write_lines(
        path,
        [_dumps({"kind": "param", "name": n, "value": v, "timestamp": now}) for n, v in items],
    )


def log_param(name, value):
    """Logs one run parameter, e.g. ``log_param("optimizer", "adam")``."""
    log_params({_check_name(name): value})
