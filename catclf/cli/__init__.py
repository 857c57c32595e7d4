"""The command line: a face over the library, which parses, makes one library call and
shows what it returns.

`catclf.cli.signals` is where the `catclf` command starts; it must run before anything
heavy is imported, so this package imports nothing as it is imported. `app` (the typer
application) and `main` are taken from `catclf.cli.commands` when first asked for.
"""

TYPE_CHECKING = False

if TYPE_CHECKING:
    from catclf.cli.commands import app, main

__all__ = ["app", "main"]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'catclf.cli' has no attribute {name!r}")
    # here: see the top of this module
    from catclf.cli import commands

    return getattr(commands, name)
