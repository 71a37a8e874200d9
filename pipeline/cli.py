"""The `genrec` command."""

from __future__ import annotations

import argparse
import sys

from pipeline.config import write_params


def compose_command(args: argparse.Namespace) -> int:
    """Compose conf/ (plus Hydra overrides) into params.yaml, as `dvc exp run` does."""
    path = write_params(args.overrides, args.output)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genrec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    compose = commands.add_parser("compose", help="compose conf/ into params.yaml")
    compose.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=smoke crop.padding=0.3")
    compose.add_argument("-o", "--output", default="params.yaml")
    compose.set_defaults(func=compose_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
