"""``python -m sublearn`` runs the command line."""

from sublearn.cli.app import run

run()
