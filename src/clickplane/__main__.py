"""`python -m clickplane` runs the command-line interface."""

from clickplane.cli import app

app()
