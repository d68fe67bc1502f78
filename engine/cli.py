"""The ``atelier`` command (filled in by the pipeline work)."""

import sys


def main(argv=None) -> int:
    print("atelier: not built yet", file=sys.stderr)
    return 1
