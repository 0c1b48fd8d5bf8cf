"""Command line: `python -m mobilekernels bench ...` (latency tables), `... info`."""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m mobilekernels {bench,info} [options]\n"
              "  bench  time a MobileNet against torch eager / torch.compile / ONNX Runtime\n"
              "  info   versions, CPU features, backend")
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "bench":
        from .bench_cli import main as bench_main
        return bench_main(rest)
    if cmd == "info":
        import json

        from . import get_backend, get_num_threads, machine
        print(json.dumps({**machine.describe(), "backend": get_backend(),
                          "threads": get_num_threads()}, indent=1))
        return 0
    print(f"unknown command {cmd!r}; try: python -m mobilekernels --help", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
