"""storefront: the frontend of Baton's two-service example.

Every GET asks the service locator for the catalog service ($SERVICE_LOCATOR/catalog/items
answers 307 with the address of a running catalog instance; urllib follows it) and prints the
items. It signals readiness once it serves, like the catalog; it does not wait for the catalog,
which may come and go: each request looks it up again.
"""

import http.server
import json
import os
import sys
import urllib.error
import urllib.request


def catalog_items():
    locator = os.environ.get("SERVICE_LOCATOR", "http://127.0.0.1:9008/services")
    with urllib.request.urlopen(f"{locator}/catalog/items", timeout=5) as answer:
        return json.load(answer)["items"], answer.geturl()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            items, where = catalog_items()
            lines = [f"Storefront ({os.environ.get('BUNDLE_NAME', 'storefront')}), catalog at {where}:"]
            lines += [f"  {item['sku']:8} {item['name']:30} {item['price']:7.2f}" for item in items]
            status, body = 200, "\n".join(lines) + "\n"
        except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
            status, body = 503, f"the catalog service is not reachable: {error}\n"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        print("storefront: " + fmt % args, flush=True)


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
    address = (os.environ.get("WEB_BIND_IP", "127.0.0.1"), int(os.environ.get("WEB_BIND_PORT", "8082")))
    server = http.server.ThreadingHTTPServer(address, Handler)
    print(f"storefront listening on {address[0]}:{address[1]}", flush=True)
    signal_started()
    server.serve_forever()


if __name__ == "__main__":
    main()
