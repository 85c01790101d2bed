"""``finishscan register ...``"""

import typer

app = typer.Typer(help="register commands", no_args_is_help=True)
