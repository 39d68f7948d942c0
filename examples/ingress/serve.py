"""A backend for the example: answers every GET on :8000 with its name (argv[1]), the path it
got and the client address nginx passed on (X-Forwarded-For)."""
import http.server
import sys

NAME = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{NAME} {self.path} {self.headers.get('X-Forwarded-For', '-')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("", 8000), Handler).serve_forever()
