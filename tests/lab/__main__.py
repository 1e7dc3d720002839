"""``python -m lab serve [--host H] [--port N] [--estate NAME] [--delivery-interval S] [--ready-file F]``"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .server import LabServer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="Run the TrailGuard AWS lab.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve until SIGINT/SIGTERM")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--estate", default=None, help="estate to build at start (demo, bench, none)")
    serve.add_argument("--estate-params", default=None, help="JSON object of estate parameters")
    serve.add_argument("--delivery-interval", type=float, default=None, help="seconds between log deliveries")
    serve.add_argument("--ready-file", default=None, help="write the endpoint URL here once listening")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    params = json.loads(args.estate_params) if args.estate_params else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lab = LabServer(host=args.host, port=args.port, delivery_interval=args.delivery_interval,
                    estate=args.estate, estate_params=params, verbose=args.verbose)
    lab.start()
    try:
        for name, value in lab.environment().items():
            print(f"export {name}={value}")
        if lab.manifest is not None:
            print(f"# estate {args.estate}: {len(json.dumps(lab.manifest))} bytes of manifest", file=sys.stderr)
        sys.stdout.flush()
        if args.ready_file:
            with open(args.ready_file + ".tmp", "w") as handle:
                handle.write(lab.endpoint_url + "\n")
            import os

            os.replace(args.ready_file + ".tmp", args.ready_file)
        while not stop.wait(0.5):
            pass
    finally:
        lab.stop()
        print("# lab stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
