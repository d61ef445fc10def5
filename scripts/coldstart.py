"""Cold start of Lambda binaries under a minimal stand-in for the Lambda Runtime API.

For each run, a binary is spawned with AWS_LAMBDA_RUNTIME_API pointing at a local server that
implements `GET /2018-06-01/runtime/invocation/next` and `POST .../{id}/response|error`. Measured:
`init` = spawn → its first `next` request (everything main does before it can take an event), and
`first` = the first event handed out → its response (the first invocation, connections included).
Runs are interleaved (every binary once per round) so machine noise hits all alike.

Usage: python3 coldstart.py ROUNDS name=path:event.json [name=path:event.json ...]
The first binary is the baseline the others are compared with. Prints one table.
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time


class Runtime(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        state = self.server.state
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        now = time.perf_counter()
        with state["lock"]:
            if state["next_at"] is None:
                state["next_at"] = now
                body = state["event"]
                state["handed_at"] = time.perf_counter()
            else:
                body = None
        if body is None:  # the second `next`: the function waits for work until it is stopped
            state["done"].wait(30)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length)
        state["result"] = ("error" if self.path.endswith("/error") else "ok", payload[:300])
        state["answered_at"] = time.perf_counter()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        state["done"].set()


def one_run(path, event):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    server.state = {"lock": threading.Lock(), "event": event, "next_at": None, "handed_at": None,
                    "answered_at": None, "result": None, "done": threading.Event()}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
    })
    spawned = time.perf_counter()
    proc = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finished = server.state["done"].wait(30)
    proc.kill()
    _, err = proc.communicate()
    server.shutdown()
    s = server.state
    if not finished or s["next_at"] is None:
        raise SystemExit(f"{path} gave no answer; stderr: {err.decode()[-2000:]}")
    return (s["next_at"] - spawned) * 1000, (s["answered_at"] - s["handed_at"]) * 1000, s["result"]


def main():
    rounds = int(sys.argv[1])
    targets = []
    for arg in sys.argv[2:]:
        name, rest = arg.split("=", 1)
        path, event_file = rest.split(":", 1)
        with open(event_file, "rb") as f:
            targets.append((name, path, f.read()))
    times = {name: ([], []) for name, _, _ in targets}
    results = {}
    for _ in range(rounds):
        for name, path, event in targets:
            init, first, result = one_run(path, event)
            times[name][0].append(init)
            times[name][1].append(first)
            results[name] = result
    base = statistics.median(times[targets[0][0]][0])
    print(f"{'binary':<20} {'init p10':>9} {'init p50':>9} {'× base':>7} {'first p50':>10}  answer")
    for name, _, _ in targets:
        init, first = times[name]
        p10 = statistics.quantiles(init, n=10)[0] if len(init) >= 2 else init[0]
        p50 = statistics.median(init)
        kind, payload = results[name]
        print(f"{name:<20} {p10:>7.1f}ms {p50:>7.1f}ms {p50 / base:>6.2f}× {statistics.median(first):>8.1f}ms  "
              f"{kind} {payload[:60].decode(errors='replace')}")
    print(f"({rounds} interleaved runs each; init = spawn → first `next`; first = first invocation)")


if __name__ == "__main__":
    main()
