"""`python -m catclf`: the same command as `catclf`.

Python has run the package front, which imports nothing. Until catclf.cli.start.main has set
the signal handlers, Python's own would print a traceback for Ctrl-C: the signals are
blocked here (with `_signal`, the C module behind `signal`, which Python imported as it
started) and wait for main, which raises one that came as any other.
"""

if __name__ == "__main__":
    try:
        import _signal

        held = _signal.pthread_sigmask(
            _signal.SIG_BLOCK, (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)
        )
    except (ImportError, AttributeError):  # a Python without them
        held = None
    from catclf.cli.start import main

    main(held)
