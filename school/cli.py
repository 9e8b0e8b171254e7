"""The ``school`` command. Each package owns its commands in its ``cli.py`` (a ``COMMANDS``
list); this module only builds the group and registers them."""
from __future__ import annotations

from importlib import import_module

import click
from flask import Flask
from flask.cli import FlaskGroup

COMMAND_MODULES = ("school.site_cli", "school.accounts.cli", "school.library.cli", "school.credits.cli",
                   "school.courses.cli", "school.exams.cli", "school.jobs.cli")


def _create_app():
    from school import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True,
             help="网上党校管理命令。数据库和目录由 SCHOOL_* 环境变量决定（见 README）。")
def main():
    pass


def register_commands(app: Flask) -> None:
    for name in COMMAND_MODULES:
        for command in import_module(name).COMMANDS:
            app.cli.add_command(command)


if __name__ == "__main__":  # python -m school.cli …
    main()
