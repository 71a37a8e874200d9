"""A team's services on loopback: SeaweedFS (S3) and an MLflow tracking server whose artifacts live in it.

    python -m pipeline.tracking.services start     # `make services`: start both, wait until they answer
    python -m pipeline.tracking.services stop      # `make services-stop`: stop both, and every process they started
    python -m pipeline.tracking.services status
    python -m pipeline.tracking.services env       # `eval "$(...)"`: MLFLOW_TRACKING_URI for the stages
    python -m pipeline.tracking.services dvc-remote  # write the store's endpoint and keys to .dvc/config.local
    python -m pipeline.tracking.services ui        # `make ui`: open MLflow on genrec's runs

Everything lives in one data folder (`.services/` at the repository root, or
$GENREC_SERVICES_DIR): the store's volumes, MLflow's SQLite database, the
generated S3 keys (mode 0600), the logs and `services.json` (ports, PIDs).
Each server runs in its own process group, so stopping one ends its workers
too. The keys and the endpoint never go in git: DVC reads them from
`.dvc/config.local`, MLflow's server from its environment.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import webbrowser
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.errors import GenrecError
from pipeline.project import project_root
from pipeline.tracking.runs import EXPERIMENT, local_tracking_uri

BUCKET = "genrec"
DVC_REMOTE = "team"  # its url, s3://genrec/dvc, is in .dvc/config (in git)
ARTIFACTS = f"s3://{BUCKET}/mlartifacts"
HOST = "127.0.0.1"
START_TIMEOUT_S = 120
# SIGTERM first; SeaweedFS's graceful stop can hang on its gRPC servers, so then SIGKILL.
STOP_TIMEOUT_S = {"mlflow": 20, "weed": 5}


class ServiceError(GenrecError, RuntimeError):
    """A service did not start or stop; the message says where its log is."""


@dataclass
class Services:
    """What `start` launched: where, on which ports, as which processes."""

    folder: str
    s3_port: int
    mlflow_port: int
    internal_ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def s3_endpoint(self) -> str:
        return f"http://{HOST}:{self.s3_port}"

    @property
    def tracking_uri(self) -> str:
        return f"http://{HOST}:{self.mlflow_port}"


def services_dir() -> Path:
    return Path(os.environ.get("GENREC_SERVICES_DIR", project_root() / ".services")).resolve()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def credentials(folder: Path) -> dict[str, str]:
    """The store's S3 keys: made once per data folder, readable by its owner only."""
    path = folder / "credentials.json"
    if not path.exists():
        # Hex, not token_urlsafe: a key starting with "-" reads as an option to `dvc remote modify`.
        keys = {"access_key_id": "genrec" + secrets.token_hex(6), "secret_access_key": secrets.token_hex(30)}
        path.touch(mode=0o600)
        path.write_text(json.dumps(keys))
    return json.loads(path.read_text())


def s3_identities(keys: dict[str, str]) -> dict:
    """SeaweedFS's -s3.config: one identity with these keys, allowed everything."""
    return {
        "identities": [
            {
                "name": "genrec",
                "credentials": [{"accessKey": keys["access_key_id"], "secretKey": keys["secret_access_key"]}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def s3_client(services: Services, keys: dict[str, str]):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=services.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["access_key_id"],
        aws_secret_access_key=keys["secret_access_key"],
    )


def record_path(folder: Path) -> Path:
    return folder / "services.json"


def load_record(folder: Path) -> Services | None:
    path = record_path(folder)
    return Services(**json.loads(path.read_text())) if path.exists() else None


def save_record(services: Services) -> None:
    path = record_path(Path(services.folder))
    path.with_suffix(".tmp").write_text(json.dumps(asdict(services), indent=2))
    path.with_suffix(".tmp").replace(path)


def alive(pid: int, name: str) -> bool:
    """Is `pid` running and still the program we started (not a reused PID)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return name in cmdline


def launch(name: str, command: list[str], folder: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start `command` in its own session (its own process group), output to <name>.log."""
    with open(folder / f"{name}.log", "ab") as log_file:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
            start_new_session=True,
        )


def wait_until(ready, what: str, log_file: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"{what} exited while starting: see {log_file}")
        try:
            if ready():
                return
        except Exception:  # not up yet: connection refused, 5xx, no volume yet
            pass
        time.sleep(0.5)
    raise ServiceError(f"{what} did not answer within {START_TIMEOUT_S} s: see {log_file}")


def weed_command(services: Services, folder: Path) -> list[str]:
    ports = services.internal_ports
    return [
        str(Path(sys.executable).parent / "weed"),
        "server",
        f"-dir={folder / 'weed'}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3",
        f"-s3.port={services.s3_port}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={folder / 's3.json'}",
        "-master.volumeSizeLimitMB=256",
        "-volume.max=0",
    ]


def mlflow_command(services: Services, folder: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        HOST,
        "--port",
        str(services.mlflow_port),
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}",
        "--artifacts-destination",
        ARTIFACTS,
        "--serve-artifacts",
        "--workers",
        "1",
    ]


def store_env(services: Services, keys: dict[str, str]) -> dict[str, str]:
    """What MLflow's server needs to write its artifacts to the store."""
    return {
        **os.environ,
        "MLFLOW_S3_ENDPOINT_URL": services.s3_endpoint,
        "AWS_ACCESS_KEY_ID": keys["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": keys["secret_access_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # No background job runner (it starts a dozen worker processes that genrec never uses).
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


def store_ready(services: Services, keys: dict[str, str]) -> bool:
    """The bucket exists and takes a write."""
    client = s3_client(services, keys)
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key=".genrec-ready", Body=b"ok")
    return True


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def start_store(services: Services, folder: Path, keys: dict[str, str]) -> None:
    (folder / "weed").mkdir(exist_ok=True)
    config = folder / "s3.json"
    config.touch(mode=0o600)
    config.write_text(json.dumps(s3_identities(keys)))
    process = launch("weed", weed_command(services, folder), folder, dict(os.environ))
    services.pids["weed"] = process.pid
    save_record(services)
    wait_until(lambda: store_ready(services, keys), "SeaweedFS", folder / "weed.log", process)


def start_tracking(services: Services, folder: Path, keys: dict[str, str]) -> None:
    (folder / "mlflow").mkdir(exist_ok=True)
    process = launch("mlflow", mlflow_command(services, folder), folder, store_env(services, keys))
    services.pids["mlflow"] = process.pid
    save_record(services)
    wait_until(lambda: http_ok(f"{services.tracking_uri}/health"), "mlflow server", folder / "mlflow.log", process)


def port_or_free(value: int | None, default: int) -> int:
    """An explicit port, 0 for any free one, None for the default."""
    if value is None:
        return default
    return value or free_port()


def start(folder: Path, s3_port: int | None = None, mlflow_port: int | None = None) -> Services:
    """Start the store and the tracking server; after a crash, restart what died on the ports it had."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = credentials(folder)
    services = load_record(folder)
    if services is None:
        services = Services(str(folder), port_or_free(s3_port, 8333), port_or_free(mlflow_port, 5000))
        services.internal_ports = {
            name: free_port()
            for name in ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc")
        }
    try:
        if not alive(services.pids.get("weed", -1), "weed"):
            start_store(services, folder, keys)
        if not alive(services.pids.get("mlflow", -1), "mlflow"):
            start_tracking(services, folder, keys)
    except BaseException:
        stop(folder)
        raise
    return services


def end_group(pid: int, name: str) -> None:
    """SIGTERM the process group `pid` leads, SIGKILL what is left after STOP_TIMEOUT_S."""
    if not alive(pid, name):
        leader_reused = Path(f"/proc/{pid}").exists()
        if leader_reused or not group_alive(pid):
            return  # nothing of ours left (the leader's PID may now be someone else's)
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S[name]), (signal.SIGKILL, 10)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not group_alive(pid):
                return
            time.sleep(0.2)
    raise ServiceError(f"process group {pid} ({name}) survived SIGKILL")


def group_alive(pgid: int) -> bool:
    """Does any process of this group still run (zombies do not count)?"""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop(folder: Path) -> None:
    """Stop the tracking server, then the store: their whole process groups."""
    services = load_record(folder)
    if services is None:
        return
    for name in ("mlflow", "weed"):
        pid = services.pids.get(name)
        if pid:
            end_group(pid, name)
    record_path(folder).unlink(missing_ok=True)


def configure_dvc(services: Services, repo: Path) -> None:
    """The store's endpoint and keys for the `team` remote, in .dvc/config.local (never in git)."""
    keys = credentials(Path(services.folder))
    for option, value in (
        ("endpointurl", services.s3_endpoint),
        ("access_key_id", keys["access_key_id"]),
        ("secret_access_key", keys["secret_access_key"]),
    ):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "dvc"), "remote", "modify", "--local", DVC_REMOTE, option, value],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise ServiceError(f"could not configure DVC remote '{DVC_REMOTE}' in {repo}: {done.stderr.strip()}")


def experiment_url(base: str, tracking: str) -> str:
    """The MLflow UI's page of genrec's training runs. MLflow 3 opens an experiment on its GenAI overview
    ("Traces 0") and its start page on the empty Default experiment, so `make ui` names the runs page."""
    import mlflow

    experiment = mlflow.MlflowClient(tracking).get_experiment_by_name(EXPERIMENT)
    return f"{base}/#/experiments/{experiment.experiment_id}/runs" if experiment else base


def start_ui(port: int, store: str) -> tuple[subprocess.Popen, str]:
    """`mlflow ui` on `store` at loopback `port`, once it answers, and the URL of genrec's runs page."""
    base = f"http://{HOST}:{port}"
    ui = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "ui", "--host", HOST, "--port", str(port)]
        + ["--backend-store-uri", store]
    )
    try:
        wait_until(lambda: http_ok(f"{base}/health"), "mlflow ui", Path("(its output above)"), ui)
    except BaseException:
        ui.terminate()
        ui.wait(timeout=STOP_TIMEOUT_S["mlflow"])
        raise
    return ui, experiment_url(base, store)


def open_ui(port: int) -> int:
    """The team's server when MLFLOW_TRACKING_URI names one, else `mlflow ui` on the project's mlflow.db."""
    remote = os.environ.get("MLFLOW_TRACKING_URI", "")
    if remote.startswith("http"):
        url = experiment_url(remote.rstrip("/"), remote)
        print(f"MLflow: {url}")
        webbrowser.open(url)
        return 0
    ui, url = start_ui(port, local_tracking_uri())
    try:
        print(f"MLflow: {url}   (Ctrl-C stops it)", flush=True)
        webbrowser.open(url)
        return ui.wait()
    except KeyboardInterrupt:
        ui.terminate()
        return ui.wait(timeout=STOP_TIMEOUT_S["mlflow"])


def exports(services: Services) -> str:
    return f"export MLFLOW_TRACKING_URI={services.tracking_uri}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.tracking.services",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["start", "stop", "status", "env", "dvc-remote", "ui"])
    parser.add_argument("--s3-port", type=int, help="S3 port (default 8333; 0: any free port)")
    parser.add_argument("--mlflow-port", type=int, help="MLflow port (default 5000; 0: any free port)")
    args = parser.parse_args(argv)
    folder = services_dir()
    try:
        if args.action == "ui":
            return open_ui(args.mlflow_port or 5000)
        if args.action == "stop":
            stop(folder)
            print(f"stopped the services of {folder}")
            return 0
        if args.action == "start":
            services = start(folder, args.s3_port, args.mlflow_port)
            repo = project_root()
            configured = (repo / ".dvc").is_dir()
            if configured:
                configure_dvc(services, repo)
            remote = f"DVC remote '{DVC_REMOTE}' configured" if configured else f"(no DVC repository at {repo})"
            print(f"S3 (SeaweedFS): {services.s3_endpoint}   bucket {BUCKET}   {remote}")
            print(f"MLflow server:  {services.tracking_uri}   artifacts in {ARTIFACTS}")
            print(f"data folder:    {folder}")
            print(f"Log the stages there:\n  {exports(services)}")
            return 0
        services = load_record(folder)
        if services is None or not all(alive(services.pids.get(n, -1), n) for n in ("weed", "mlflow")):
            print(f"the services of {folder} are not running: `make services` starts them", file=sys.stderr)
            return 1
        if args.action == "env":
            print(exports(services))
        elif args.action == "dvc-remote":
            configure_dvc(services, project_root())
        else:
            print(json.dumps(asdict(services), indent=2))
        return 0
    except GenrecError as error:
        print(f"services: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
