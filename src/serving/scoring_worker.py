# Overdrive scoring worker: hosts one Azure-style scoring script (init() once, run(raw) per
# request) for the C++ front end of `overdrive serve`. Embedded into the overdrive binary at
# build time and started as `python3 -c <this file> SCRIPT`, with the model folder as cwd and
# AZUREML_MODEL_DIR set to it.
#
# Protocol on the pipes (stdin from the server, the original stdout to it): every message is a
# header line "KIND LENGTH\n" followed by LENGTH bytes of UTF-8.
#   server -> worker  RUN   the raw request body, passed to run() as a str (as Azure does)
#   worker -> server  READY {"pid": ...}               after init() returned
#                     FAIL  {"error": ..., ...}        import or init() failed; the worker exits
#                     OK    the JSON encoding of what run() returned
#                     ERR   {"error": ..., "type": ..., "traceback": ...}  run() raised
# The script's own prints go to stderr, so they can never corrupt the protocol.
import importlib.util
import json
import os
import sys
import traceback


def _send(out, kind, payload):
    data = payload.encode("utf-8", errors="replace")
    out.write(("%s %d\n" % (kind, len(data))).encode("ascii"))
    out.write(data)
    out.flush()


def _describe(exc):
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def _encode_default(value):
    # numpy arrays and scalars, pandas objects: what scoring scripts commonly return.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError("run() returned a %s, which is not JSON serializable" % type(value).__name__)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: scoring_worker.py SCRIPT\n")
        return 2
    script = os.path.abspath(sys.argv[1])
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)

    model_dir = os.environ.get("AZUREML_MODEL_DIR") or os.path.dirname(script)
    sys.path.insert(0, os.path.dirname(script))
    try:
        os.chdir(model_dir)
        spec = importlib.util.spec_from_file_location("score", script)
        module = importlib.util.module_from_spec(spec)
        sys.modules["score"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: B902 - anything the import does is the script's error
        traceback.print_exc()
        _send(proto_out, "FAIL", json.dumps({
            "error": "importing %s failed: %s" % (os.path.basename(script), _describe(exc))}))
        return 1
    run = getattr(module, "run", None)
    if not callable(run):
        _send(proto_out, "FAIL", json.dumps({
            "error": "%s defines no run(data) function" % os.path.basename(script)}))
        return 1
    init = getattr(module, "init", None)
    if callable(init):
        try:
            init()
        except BaseException as exc:  # noqa: B902
            traceback.print_exc()
            _send(proto_out, "FAIL", json.dumps({
                "error": "init() in %s raised %s" % (os.path.basename(script), _describe(exc))}))
            return 1
    _send(proto_out, "READY", json.dumps({"pid": os.getpid()}))

    while True:
        header = proto_in.readline()
        if not header:
            return 0  # the server closed the pipe: shut down
        kind, _, length = header.decode("ascii", errors="replace").strip().partition(" ")
        payload = proto_in.read(int(length)) if length else b""
        if kind != "RUN":
            continue
        try:
            result = run(payload.decode("utf-8", errors="replace"))
            body = json.dumps(result, default=_encode_default)
        except Exception as exc:
            traceback.print_exc()
            _send(proto_out, "ERR", json.dumps({
                "error": "run() raised " + _describe(exc),
                "type": type(exc).__name__,
                "traceback": traceback.format_exc(limit=5)}))
            continue
        _send(proto_out, "OK", body)


if __name__ == "__main__":
    sys.exit(main())
