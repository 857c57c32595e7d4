"""`python -m catclf`: the same command as `catclf`."""

import signal
import sys


def _terminated(signum: int, frame: object) -> None:
    sys.exit(143)


# Importing the command line takes a moment; an interrupt then still ends quietly, with the
# usual status. main() puts catclf's own handlers in place once it runs.
signal.signal(signal.SIGTERM, _terminated)
try:
    from catclf.cli import main
except KeyboardInterrupt:
    print("catclf: interrupted; nothing was saved", file=sys.stderr)
    sys.exit(130)

main()
