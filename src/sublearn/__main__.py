"""``python -m sublearn`` runs the command line."""

from sublearn.cli import run

run()
