# Driven by python_client_test.cpp: exercises the overdrive client the way a training script
# would. The C++ test checks what CollectJsonl reads back (or what was printed to stdout).
import threading

import overdrive


class Scalar:
    """Stands in for a numpy scalar or a 1-element tensor: it only converts through float()."""

    def __float__(self):
        return 1.5


class Index:
    """Stands in for a numpy integer used as a step."""

    def __index__(self):
        return 7


def expect_error(exc_type, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type:
        return
    raise SystemExit("expected %s from %s%r" % (exc_type.__name__, fn.__name__, args))


overdrive.log_param("lr", 0.01)
overdrive.log_params({"optimizer": "adam", "layers": [64, 32], "nan_param": float("nan")})
overdrive.log_metric("loss", 0.5)
overdrive.log_metric("loss", 0.25)
overdrive.log_metric("loss", 0.125, step=10)
overdrive.log_metrics({"acc": 0.9, "epoch": 3}, step=2)
overdrive.log_metric("flag", True)
overdrive.log_metric("scalar", Scalar(), step=Index())
overdrive.log_metric("bad", float("nan"))
overdrive.log_metric("up", float("inf"))
overdrive.log_metric("down", float("-inf"))
overdrive.log_metric("unicode_\u00e9", 1)

expect_error(TypeError, overdrive.log_metric, "x", "0.5")
expect_error(TypeError, overdrive.log_metric, "x", None)
expect_error(TypeError, overdrive.log_metric, "", 1.0)
expect_error(ValueError, overdrive.log_metric, "x", 1.0, step=-1)
expect_error(TypeError, overdrive.log_metric, "x", 1.0, step=1.5)


def worker(i):
    for _ in range(200):
        overdrive.log_metric("thread%d" % i, i)


threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()

print("run_id=%s" % overdrive.get_run_id())
print("run_dir=%s" % overdrive.get_run_dir())
