"""A VIES-shaped HTTP server on loopback for tests: POST {"countryCode", "vatNumber"} as JSON to
/check-vat-number answers as the EU's REST service does — `valid` with the trader's name and
address for a registered number, `valid: false` with `userError: INVALID` for any other — and, for
the faults a test needs, a member state that is down (`actionSucceed: false` in a 200), a server
error (500), an answer that is not JSON, and an answer that never comes (`hold`: the request waits
until the test ends, well past the client's timeout)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/check-vat-number"


class ViesDouble:
    def __init__(self):
        self.registered: dict[str, tuple[str, str]] = {}  # "FR40303265045" -> (name, address)
        self.mode = "answer"  # answer | ms_unavailable | server_error | garbage | hold
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self._server = None
        self.url = ""

    def start(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                double.handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{PATH}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.release.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def register(self, number: str, name: str = "ACME SA", address: str = "1 RUE DE LA PAIX\n75002 PARIS") -> None:
        self.registered[number] = (name, address)

    def handle(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self.lock:
            self.requests.append(body)
            mode = self.mode
        if handler.path != PATH or not isinstance(body, dict):
            return self._send(handler, 400, {"actionSucceed": False, "errorWrappers": [{"error": "INVALID_INPUT"}]})
        if mode == "hold":
            self.release.wait(30)
            return self._send(handler, 200, {"valid": False, "userError": "INVALID"})
        if mode == "server_error":
            return self._send(
                handler, 500, {"actionSucceed": False, "errorWrappers": [{"error": "SERVICE_UNAVAILABLE"}]}
            )
        if mode == "ms_unavailable":
            return self._send(
                handler,
                200,
                {
                    "actionSucceed": False,
                    "errorWrappers": [{"error": "MS_UNAVAILABLE", "message": "The member state is not available."}],
                },
            )
        if mode == "garbage":
            return self._send_raw(handler, 200, b"<html>maintenance</html>", "text/html")
        country, number = str(body.get("countryCode", "")), str(body.get("vatNumber", ""))
        known = self.registered.get(country + number)
        answer = {
            "countryCode": country,
            "vatNumber": number,
            "requestDate": "2027-01-31T10:00:00.000Z",
            "valid": known is not None,
            "requestIdentifier": "",
            "name": known[0] if known else "---",
            "address": known[1] if known else "---",
            "traderName": "---",
            "traderStreet": "---",
            "traderPostalCode": "---",
            "traderCity": "---",
            "traderCompanyType": "---",
            "traderNameMatch": "NOT_PROCESSED",
            "traderStreetMatch": "NOT_PROCESSED",
            "traderPostalCodeMatch": "NOT_PROCESSED",
            "traderCityMatch": "NOT_PROCESSED",
            "traderCompanyTypeMatch": "NOT_PROCESSED",
            "userError": "VALID" if known else "INVALID",
        }
        return self._send(handler, 200, answer)

    def _send(self, handler, status: int, body: dict):
        return self._send_raw(handler, status, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _send_raw(handler, status: int, body: bytes, content_type: str):
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the client gave up waiting (a timeout test)
            pass
