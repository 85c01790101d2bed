"""``finishscan dataset ...``"""

import typer

app = typer.Typer(help="dataset commands", no_args_is_help=True)
