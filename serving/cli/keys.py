"""``finishscan keys ...``"""

import typer

app = typer.Typer(help="keys commands", no_args_is_help=True)
