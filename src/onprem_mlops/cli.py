"""Command-line entry point ``onprem-mlops``.

Each sub-command lives in its own module that exposes ``register(subparsers)``; the
module's ``register`` adds its parser and sets ``func`` to a callable taking the parsed
arguments and returning the process exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from onprem_mlops import __version__

# Modules that contribute sub-commands, in the order of the rollout plan.
COMMAND_MODULES: tuple[str, ...] = (
    "onprem_mlops.commands.phases",
    "onprem_mlops.commands.assess",
    "onprem_mlops.commands.fleet_report",
    "onprem_mlops.commands.plan",
    "onprem_mlops.commands.vault",
    "onprem_mlops.commands.smoke_train",
    "onprem_mlops.commands.pipeline",
    "onprem_mlops.commands.rollout",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onprem-mlops",
        description="On-premises MLOps rollout: assessment, planning and platform tooling.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    return int(func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
