"""catalog: the backend of Baton's two-service example.

Serves GET /items as JSON on $API_BIND_IP:$API_BIND_PORT, then tells the agent it is ready
(PUT $CONDUCTR_STATUS/bundles/$BUNDLE_ID?isStarted=true), exactly as a ConductR bundle would.
"""

import http.server
import json
import os
import sys
import urllib.request

ITEMS = [
    {"sku": "baton-1", "name": "Conductor's baton", "price": 24.0},
    {"sku": "stand-2", "name": "Music stand", "price": 39.5},
    {"sku": "score-3", "name": "Full score, Symphony No. 5", "price": 18.25},
]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.rstrip("/") not in ("", "/items"):
            self.send_error(404, "no such resource: " + self.path)
            return
        body = json.dumps({"items": ITEMS, "servedBy": os.environ.get("BUNDLE_ID", "")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("catalog: " + fmt % args, flush=True)


def signal_started():
    status = os.environ.get("CONDUCTR_STATUS")
    if not status:
        return
    url = f"{status}/bundles/{os.environ['BUNDLE_ID']}?isStarted=true"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="PUT"), timeout=5).close()
    except OSError as error:
        print(f"could not signal readiness to {status}: {error}", file=sys.stderr, flush=True)
        sys.exit(70)


def main():
    address = (os.environ.get("API_BIND_IP", "127.0.0.1"), int(os.environ.get("API_BIND_PORT", "8081")))
    server = http.server.ThreadingHTTPServer(address, Handler)
    print(f"catalog listening on {address[0]}:{address[1]}", flush=True)
    signal_started()
    server.serve_forever()


if __name__ == "__main__":
    main()
