"""`python -m hyperhub` is the `hyperhub` command."""

from hyperhub.cli.main import run_cli

run_cli()
