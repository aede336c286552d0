"""Plain Python baseline of the serving bench: http.server's ThreadingHTTPServer scoring the same
XGBoost model with xgboost's Python package (HTTP/1.1 keep-alive, as the other servers).

    /usr/bin/python3 baseline_server.py --model model.json --port 8000
POST /score {"data": [[...], ...]} -> {"predictions": [[...], ...]};  GET /health -> 200.
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import xgboost as xgb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    booster = xgb.Booster(model_file=a.model)
    booster.set_param({"nthread": 1})  # inplace_predict is thread-safe; one OpenMP thread each

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the client's
        # delayed ACK (~40 ms per request). Real Python servers set TCP_NODELAY too.
        disable_nagle_algorithm = True

        def _reply(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._reply(200 if self.path == "/health" else 404, {"status": "ready"})

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                request = json.loads(raw)
                rows = np.asarray(request["data"] if isinstance(request, dict) else request,
                                  dtype=np.float32)
                self._reply(200, {"predictions": booster.inplace_predict(rows).tolist()})
            except Exception as exc:  # a bad request must not end the server
                self._reply(400, {"error": str(exc)})

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
