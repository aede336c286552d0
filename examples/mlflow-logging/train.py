"""A tiny training script that tracks itself with MLflow, the way Azure ML scripts do.

It trains a logistic-regression classifier with plain SGD on a synthetic two-class data set
(pure Python: no numpy needed) and, after every epoch, logs the validation accuracy and the
training loss with `mlflow.log_metric(..., step=epoch)`. Under `overdrive server`, a sweep's
trials get MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and (when the server needs tokens)
MLFLOW_TRACKING_TOKEN, so each logged accuracy is one interval for the sweep's early-termination
policy, exactly as it would be on Azure ML.

If the `mlflow` package is installed it is used as is. Otherwise the same calls go over MLflow's
REST protocol with the standard library only, reading the same environment variables mlflow reads:
  MLFLOW_TRACKING_URI        http(s)://host:port of the tracking server
  MLFLOW_RUN_ID              log into this existing run (else a run is created)
  MLFLOW_EXPERIMENT_NAME / MLFLOW_EXPERIMENT_ID   where a created run goes (else "0", the default)
  MLFLOW_TRACKING_TOKEN      sent as "Authorization: Bearer <token>"
  MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD   HTTP basic auth instead
  MLFLOW_TRACKING_INSECURE_TLS=true, MLFLOW_TRACKING_SERVER_CERT_PATH   TLS settings
With no tracking server at all (a plain `overdrive job submit`), it prints `accuracy=0.91` lines,
which overdrive's stdout collector picks up instead.

  /usr/bin/python3 train.py --learning-rate 0.05 --l2 0.001 --epochs 15
"""
import argparse
import base64
import json
import math
import os
import random
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class RestTracker:
    """The few MLflow REST calls mlflow.log_metric & co. make (API 2.0), with urllib."""

    def __init__(self, uri):
        self.base = uri.rstrip("/") + "/api/2.0/mlflow/"
        self.headers = {"Content-Type": "application/json"}
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if user and password:
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = "Basic " + basic
        elif token:
            self.headers["Authorization"] = "Bearer " + token
        self.context = None
        if uri.startswith("https://"):
            if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
                self.context = ssl._create_unverified_context()
            else:
                self.context = ssl.create_default_context(
                    cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None)
        self.run_id = None

    def call(self, method, endpoint, body):
        url = self.base + endpoint
        data = None
        if method == "GET":
            url += "?" + urllib.parse.urlencode(body)
        else:
            data = json.dumps(body).encode()
        for attempt in range(4):
            request = urllib.request.Request(url, data=data, method=method, headers=self.headers)
            try:
                with urllib.request.urlopen(request, timeout=30, context=self.context) as reply:
                    return json.loads(reply.read() or b"{}")
            except urllib.error.HTTPError as e:
                text = e.read().decode(errors="replace")
                try:
                    err = json.loads(text)
                    text = f"{err.get('error_code', e.code)}: {err.get('message', text)}"
                except ValueError:
                    pass
                if e.code < 500 and e.code != 429:
                    raise RuntimeError(f"MLflow {endpoint} failed ({e.code}): {text}") from None
                failure = f"{e.code}: {text}"
            except urllib.error.URLError as e:
                failure = str(e.reason)
            time.sleep(0.5 * 2 ** attempt)
        raise RuntimeError(f"MLflow {endpoint} failed after retries: {failure}")

    @staticmethod
    def _now_ms():
        return int(time.time() * 1000)

    def start_run(self, run_name):
        run_id = os.environ.get("MLFLOW_RUN_ID")
        if run_id:
            # What mlflow.start_run() does with MLFLOW_RUN_ID: check the run, mark it running.
            self.call("GET", "runs/get", {"run_id": run_id})
            self.call("POST", "runs/update", {"run_id": run_id, "status": "RUNNING"})
        else:
            experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
            if not experiment_id and name:
                try:
                    found = self.call("GET", "experiments/get-by-name", {"experiment_name": name})
                    experiment_id = found["experiment"]["experiment_id"]
                except RuntimeError as e:
                    if "RESOURCE_DOES_NOT_EXIST" not in str(e):
                        raise
                    experiment_id = self.call("POST", "experiments/create",
                                              {"name": name})["experiment_id"]
            created = self.call("POST", "runs/create", {
                "experiment_id": experiment_id or "0",
                "start_time": self._now_ms(),
                "run_name": run_name,
                "tags": [{"key": "mlflow.runName", "value": run_name},
                         {"key": "mlflow.source.name", "value": os.path.basename(__file__)}],
            })
            run_id = created["run"]["info"]["run_id"]
        self.run_id = run_id
        return run_id

    def log_params(self, params):
        self.call("POST", "runs/log-batch", {
            "run_id": self.run_id,
            "params": [{"key": k, "value": str(v)} for k, v in params.items()],
        })

    def set_tag(self, key, value):
        self.call("POST", "runs/set-tag", {"run_id": self.run_id, "key": key, "value": str(value)})

    def log_metric(self, key, value, step):
        value = float(value)
        # Protobuf's JSON form of doubles that JSON cannot hold.
        if math.isnan(value):
            value = "NaN"
        elif math.isinf(value):
            value = "Infinity" if value > 0 else "-Infinity"
        self.call("POST", "runs/log-metric", {
            "run_id": self.run_id, "key": key, "value": value,
            "timestamp": self._now_ms(), "step": int(step),
        })

    def end_run(self, status):
        self.call("POST", "runs/update", {
            "run_id": self.run_id, "status": status, "end_time": self._now_ms(),
        })


class MlflowTracker:
    """The same calls through the mlflow package (it reads the environment itself)."""

    def __init__(self, mlflow):
        self.mlflow = mlflow

    def start_run(self, run_name):
        return self.mlflow.start_run(
            run_name=None if os.environ.get("MLFLOW_RUN_ID") else run_name).info.run_id

    def log_params(self, params):
        self.mlflow.log_params(params)

    def set_tag(self, key, value):
        self.mlflow.set_tag(key, value)

    def log_metric(self, key, value, step):
        self.mlflow.log_metric(key, value, step=step)

    def end_run(self, status):
        self.mlflow.end_run(status=status)


class PrintTracker:
    """No tracking server: `name=value` lines for overdrive's stdout collector."""

    def start_run(self, run_name):
        return None

    def log_params(self, params):
        pass

    def set_tag(self, key, value):
        pass

    def log_metric(self, key, value, step):
        print(f"{key}={value:.6f}", flush=True)

    def end_run(self, status):
        pass


def make_tracker():
    try:
        import mlflow  # noqa: F401  (used when installed, as on Azure ML)
        return MlflowTracker(mlflow)
    except ImportError:
        pass
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri.startswith(("http://", "https://")):
        return RestTracker(uri)
    if uri:
        print(f"train.py: MLFLOW_TRACKING_URI {uri!r} is not http(s) and the mlflow package is "
              "not installed; printing metrics instead", file=sys.stderr)
    return PrintTracker()


def make_data(n, dim, seed):
    """Two overlapping Gaussian classes away from the origin, so the bias has to be learned (a
    learning rate that is too small stays near chance); half of the features are noise."""
    rng = random.Random(seed)
    shift = [0.6 if j < dim // 2 else 0.0 for j in range(dim)]
    center = 3.0
    rows = []
    for i in range(n):
        label = i % 2
        sign = 1.0 if label else -1.0
        rows.append(([rng.gauss(center + sign * shift[j], 1.0) for j in range(dim)], label))
    rng.shuffle(rows)
    return rows


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--learning-rate", type=float, default=0.05)
    ap.add_argument("--l2", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--samples", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epoch-seconds", type=float, default=0.0,
                    help="sleep this long per epoch (to watch early termination act)")
    args = ap.parse_args()

    tracker = make_tracker()
    run_id = tracker.start_run(f"logreg-lr{args.learning_rate:g}")
    if run_id:
        print(f"tracking run {run_id}", flush=True)
    tracker.log_params({"learning_rate": args.learning_rate, "l2": args.l2,
                        "epochs": args.epochs, "features": args.features})
    tracker.set_tag("model", "logistic-regression")

    status = "FAILED"
    try:
        data = make_data(args.samples, args.features, args.seed)
        split = len(data) * 3 // 4
        train, val = data[:split], data[split:]
        w = [0.0] * args.features
        b = 0.0
        rng = random.Random(args.seed + 1)
        for epoch in range(args.epochs):
            rng.shuffle(train)
            loss = 0.0
            for x, y in train:
                p = sigmoid(sum(wi * xi for wi, xi in zip(w, x)) + b)
                loss -= math.log(max(p if y else 1.0 - p, 1e-12))
                g = p - y
                for j in range(args.features):
                    w[j] -= args.learning_rate * (g * x[j] + args.l2 * w[j])
                b -= args.learning_rate * g
            correct = sum((sum(wi * xi for wi, xi in zip(w, x)) + b > 0) == bool(y) for x, y in val)
            accuracy = correct / len(val)
            # No "name=value" here: under a tracking server the metrics go through MLflow only.
            print(f"epoch {epoch}: accuracy {accuracy:.4f}, train loss {loss / len(train):.4f}",
                  flush=True)
            tracker.log_metric("accuracy", accuracy, step=epoch)
            tracker.log_metric("train_loss", loss / len(train), step=epoch)
            if args.epoch_seconds > 0:
                time.sleep(args.epoch_seconds)
        os.makedirs("outputs", exist_ok=True)
        with open(os.path.join("outputs", "model.json"), "w") as f:
            json.dump({"weights": w, "bias": b}, f)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        try:
            tracker.end_run(status)
        except Exception as e:  # never hide the error that ended training
            if status == "FINISHED":
                raise
            print(f"train.py: could not mark the run {status}: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
