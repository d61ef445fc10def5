"""moto's server, handling one request at a time.

moto applies the actions of a DynamoDB update without a lock, so two concurrent ADDs to one item can
lose one of them (seen here: 39 hours recorded for 40 one-hour sessions of one account). Real DynamoDB
serializes the writes to an item; serializing the emulator gives the tests that same guarantee, while
connections stay threaded (keep-alive works).

Usage: python moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
