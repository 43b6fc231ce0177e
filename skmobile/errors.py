"""The one error type users see.

Every bad input (an impossible SK spec, an unknown model, table, convention or data set, a bad
storage URL) raises :class:`SKMobileError`. It subclasses ``ValueError`` so the Python API behaves
as users expect; the CLI turns it into a one-line message and exit code 2.
"""


class SKMobileError(ValueError):
    """A bad input, explained in one line: the bad value and what is allowed."""


def choose(kind: str, value, allowed) -> None:
    """Raise unless ``value`` is one of ``allowed``, naming both."""
    allowed = list(allowed)
    if value not in allowed:
        shown = ", ".join(str(a) for a in allowed)
        raise SKMobileError(f"unknown {kind} {value!r}; allowed: {shown}")


def positive(**values) -> None:
    """Raise unless every named value is > 0, naming the first that is not."""
    for name, value in values.items():
        if not value > 0:
            raise SKMobileError(f"{name} must be > 0; got {value}")


def run_or_exit(main) -> None:
    """Run a script's ``main()``; a :class:`SKMobileError` becomes ``error: ...`` on stderr, exit 2
    (what the CLI does, for the scripts in tools/)."""
    import sys

    try:
        main()
    except SKMobileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


class Interrupted(Exception):
    """A run stopped by Ctrl-C; the message says what was kept and how to go on.

    The CLI prints it as ``interrupted; <message>`` with exit code 130 (not a ``KeyboardInterrupt``,
    so nothing between the run and the CLI mistakes it for a fresh interrupt).
    """
