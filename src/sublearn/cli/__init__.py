"""The ``sublearn`` command line: :mod:`~sublearn.cli.app` assembles the commands, one module per command group,
each command a module-level function over a library call; :mod:`~sublearn.cli._common` holds the console, the
error handler and the validation-error formatter. Heavy libraries (torch) load only when a command runs."""
