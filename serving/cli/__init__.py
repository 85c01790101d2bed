"""``finishscan`` command line: thin commands that parse arguments and call one library function.

Each command group lives in its own module; this one wires them and maps
:class:`finishscan.FinishscanError` to a one-line message on stderr and exit code 1.
"""

from __future__ import annotations

import typer

from finishscan.errors import FinishscanError
from serving.cli import dataset, detect, keys, register, scan, serve, train

app = typer.Typer(
    name="finishscan",
    help="Find finishing defects in apartment photos and keep a per-unit defect register.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("detect")(detect.detect)
app.command("serve")(serve.serve)
app.command("scan")(scan.scan)
app.command("train")(train.train)
app.command("deepen")(train.deepen)
app.command("export")(train.export)
app.command("evaluate")(train.evaluate)
app.command("retrain")(train.retrain)
app.command("select")(train.select)
app.add_typer(dataset.app, name="dataset")
app.add_typer(keys.app, name="keys")
app.add_typer(register.app, name="register")


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit; the way every command reports a user mistake."""
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def main() -> None:
    try:
        app()
    except FinishscanError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        fail(f"{e.strerror}: {e.filename}")


if __name__ == "__main__":  # pragma: no cover
    main()
