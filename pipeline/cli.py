"""The `genrec` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.config import write_params
from pipeline.errors import GenrecError


def compose_command(args: argparse.Namespace) -> int:
    """Compose conf/ (plus Hydra overrides) into params.yaml, as `dvc exp run` does."""
    path = write_params(args.overrides, args.output)
    print(f"wrote {path}")
    return 0


def predict_command(args: argparse.Namespace) -> int:
    """Gender and confidence of every face in the given images."""
    from pipeline.serving.predict import predict_command as run

    return run(args.paths, args.model, args.json, args.fake_model)


def serve_command(args: argparse.Namespace) -> int:
    """GEN_REC under gunicorn, the models loaded once per worker."""
    from pipeline.serving.server import serve

    return serve(args.host, args.port, args.workers)


def report_command(args: argparse.Namespace) -> int:
    """Rewrite the generated tables of README.md and docs/*.md from metrics/."""
    from pipeline.docs import report

    return report(Path.cwd(), args.check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genrec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    compose = commands.add_parser("compose", help="compose conf/ into params.yaml")
    compose.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=smoke crop.padding=0.3")
    compose.add_argument("-o", "--output", default="params.yaml")
    compose.set_defaults(func=compose_command)
    predict = commands.add_parser("predict", help="gender, confidence and fake probability of every face in images")
    predict.add_argument("paths", nargs="+", metavar="PATH", help="image files")
    predict.add_argument(
        "--model",
        help="a saved model file (default: data/models/gender.joblib, verified) "
        "or an MLflow model URI such as models:/genrec-gender/latest",
    )
    predict.add_argument(
        "--fake-model",
        help="the real-or-GAN model: a saved file (default: "
        "data/models/fake.joblib, verified, when it exists), an MLflow URI, or 'none'",
    )
    predict.add_argument("--json", action="store_true", help="machine-readable output")
    predict.set_defaults(func=predict_command)
    serve = commands.add_parser("serve", help="run GEN_REC, the web app, under gunicorn")
    serve.add_argument("--host", help="address to bind (default: serve.host)")
    serve.add_argument("--port", type=int, help="port (default: serve.port)")
    serve.add_argument("--workers", type=int, help="worker processes (default: serve.workers)")
    serve.set_defaults(func=serve_command)
    report = commands.add_parser("report", help="rewrite README's and docs/' result tables from metrics/")
    report.add_argument("--check", action="store_true", help="write nothing; fail if a table differs")
    report.set_defaults(func=report_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GenrecError as error:
        print(f"genrec {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
