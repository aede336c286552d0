"""Python peer of the server bench: the smallest tracking server one would write with the standard
library, taking the same requests as `overdrive server` for what the ingest sections send.

    /usr/bin/python3 server_peer.py --db /tmp/x/peer.db --port 0   (prints "listening on URL")

http.server's ThreadingHTTPServer (HTTP/1.1 keep-alive, TCP_NODELAY), json, and sqlite3 with a
metrics table and index shaped like Overdrive's (WAL, synchronous=NORMAL), one connection behind
a lock (SQLite takes one writer at a time anyway). A batch is one executemany in one transaction,
committed before the reply, as Overdrive acknowledges only durable points.
  POST /api/2.0/mlflow/runs/create      -> {"run": {"info": {"run_id": ...}}}
  POST /api/2.0/mlflow/runs/log-metric  one point, one transaction
  POST /api/2.0/mlflow/runs/update      -> {}
  POST /api/v1/runs/ID/metrics          {"metrics": [{"name", "value", "step"}]} -> {"accepted": n}
  GET  /api/v1/runs/ID/metrics          {"metrics": [{"name", "count", "last_step", "distinct_steps"}]}
"""
import argparse
import json
import re
import sqlite3
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, name TEXT, status TEXT, created_at REAL);
CREATE TABLE IF NOT EXISTS metrics (run_id TEXT NOT NULL, name TEXT NOT NULL, step INTEGER NOT NULL,
                                    value REAL, timestamp REAL NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_by_run_name_step ON metrics(run_id, name, step);
"""
RUN_METRICS = re.compile(r"^/api/v1/runs/([^/]+)/metrics$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    db = sqlite3.connect(a.db, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    lock = threading.Lock()

    def write(sql, rows):
        with lock:
            db.execute("BEGIN")
            try:
                if db.execute("SELECT 1 FROM runs WHERE id = ?", (rows[0][0],)).fetchone() is None:
                    raise KeyError(rows[0][0])
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def reply(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/api/v1/health":
                return self.reply(200, {"status": "ok"})
            m = RUN_METRICS.match(self.path)
            if not m:
                return self.reply(404, {"error": "no such endpoint"})
            with lock:
                rows = db.execute(
                    "SELECT name, COUNT(*), MAX(step), COUNT(DISTINCT step) FROM metrics "
                    "WHERE run_id = ? GROUP BY name ORDER BY name", (m.group(1),)).fetchall()
            self.reply(200, {"metrics": [{"name": n, "count": c, "last_step": s,
                                          "distinct_steps": d} for n, c, s, d in rows]})

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                body = json.loads(raw)
                if self.path == "/api/2.0/mlflow/runs/create":
                    run_id = uuid.uuid4().hex
                    with lock:
                        db.execute("INSERT INTO runs VALUES (?, ?, 'RUNNING', ?)",
                                   (run_id, body.get("run_name", ""), time.time()))
                    return self.reply(200, {"run": {"info": {"run_id": run_id}}})
                if self.path == "/api/2.0/mlflow/runs/update":
                    with lock:
                        db.execute("UPDATE runs SET status = ? WHERE id = ?",
                                   (body.get("status", "FINISHED"), body["run_id"]))
                    return self.reply(200, {})
                if self.path == "/api/2.0/mlflow/runs/log-metric":
                    write("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)",
                          [(body["run_id"], body["key"], int(body.get("step", 0)),
                            float(body["value"]), body["timestamp"] / 1000.0)])
                    return self.reply(200, {})
                m = RUN_METRICS.match(self.path)
                if m:
                    now = time.time()
                    points = body["metrics"]
                    if len(points) > 10000:
                        return self.reply(413, {"error": "at most 10000 points"})
                    write("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)",
                          [(m.group(1), p["name"], int(p["step"]), float(p["value"]),
                            p.get("timestamp", now)) for p in points])
                    return self.reply(200, {"accepted": len(points)})
                self.reply(404, {"error": "no such endpoint"})
            except KeyError as exc:
                self.reply(404, {"error": "not found: %s" % exc})
            except Exception as exc:  # a bad request must not end the server
                self.reply(400, {"error": str(exc)})

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    print("listening on http://127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
