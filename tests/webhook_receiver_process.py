"""A webhook receiver in its own OS process, for the fault tests (tests/test_faults_webhook_processes.py):
each delivery is verified with the `standardwebhooks` package and logged as one JSON line
({"id": webhook-id, "verified": bool}) before it is answered 200. With --hang-first the first
request is logged and never answered (the sender is killed while it waits); with --hang-all none
is (a receiver that has stopped answering, for as long as the test runs)."""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--hang-first", action="store_true")
    parser.add_argument("--hang-all", action="store_true")
    args = parser.parse_args()
    hook, lock, seen = Webhook(args.secret), threading.Lock(), [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                hook.verify(body, headers)
                verified = True
            except Exception:
                verified = False
            with lock:
                seen[0] += 1
                first = seen[0] == 1
                with open(args.log, "a") as log:
                    log.write(json.dumps({"id": headers.get("webhook-id"), "verified": verified}) + "\n")
            if args.hang_all or (args.hang_first and first):
                time.sleep(3600)
                return
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
