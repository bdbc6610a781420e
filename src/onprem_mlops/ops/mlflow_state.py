"""What an MLflow server holds, as JSON that two servers can be compared by (restore drill).

Runs on an MLOps host with the MLflow server's own venv (``mlflow`` and the standard library
only; this file does not import onprem_mlops, so the playbook copies it as it is):

    python mlflow_state.py capture --tracking-uri http://127.0.0.1:5000 --out state.json
    python mlflow_state.py compare source.json restored.json

``capture`` reads, through the official MLflow client, every experiment (active and
deleted), every run with its status, parameters, tags, the full history of every metric and
the SHA-256 of every artifact; every registered model with its aliases and versions, and the
SHA-256 of every file of each version's model. Credentials: MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD, or with ``--credentials-stdin`` a JSON object ``{"username": ...,
"password": ...}`` on stdin, which keeps them off command lines. ``compare`` prints each
difference and exits 1 when there is one, 0 when the two states are equal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

PAGE = 1000


def _checksums(directory: Path) -> dict[str, str]:
    out = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        out[path.relative_to(directory).as_posix()] = digest.hexdigest()
    return out


def _pages(call: Any, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    token = None
    while True:
        page = call(max_results=PAGE, page_token=token, **kwargs)
        items.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return items


def _history(client: Any, run_id: str, key: str) -> list[list[Any]]:
    return [[m.step, m.value, m.timestamp] for m in client.get_metric_history(run_id, key)]


def capture(tracking_uri: str) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiments: dict[str, Any] = {}
    for exp in _pages(client.search_experiments, view_type=ViewType.ALL):
        runs: dict[str, Any] = {}
        for run in _pages(
            client.search_runs, experiment_ids=[exp.experiment_id], run_view_type=ViewType.ALL
        ):
            info, data = run.info, run.data
            with tempfile.TemporaryDirectory() as tmp:
                client.download_artifacts(info.run_id, "", tmp)
                artifacts = _checksums(Path(tmp))
            runs[info.run_id] = {
                "name": info.run_name,
                "status": info.status,
                "lifecycle": info.lifecycle_stage,
                "start_time": info.start_time,
                "end_time": info.end_time,
                "params": dict(data.params),
                "tags": dict(data.tags),
                "metrics": {
                    key: _history(client, info.run_id, key) for key in sorted(data.metrics)
                },
                "artifacts": artifacts,
            }
        experiments[exp.name] = {
            "id": exp.experiment_id,
            "lifecycle": exp.lifecycle_stage,
            "tags": dict(exp.tags),
            "runs": runs,
        }
    models: dict[str, Any] = {}
    for model in _pages(client.search_registered_models):
        versions: dict[str, Any] = {}
        for version in client.search_model_versions(f"name='{model.name}'"):
            with tempfile.TemporaryDirectory() as tmp:
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{model.name}/{version.version}", dst_path=tmp
                )
                files = _checksums(Path(tmp))
            versions[str(version.version)] = {
                "run_id": version.run_id,
                "source": version.source,
                "status": version.status,
                "tags": dict(version.tags),
                "files": files,
            }
        models[model.name] = {
            "aliases": {
                alias: str(version)
                for alias, version in sorted(
                    client.get_registered_model(model.name).aliases.items()
                )
            },
            "tags": dict(model.tags),
            "versions": versions,
        }
    return {"experiments": experiments, "registered_models": models}


def summary(state: dict[str, Any]) -> dict[str, int]:
    runs = [r for e in state["experiments"].values() for r in e["runs"].values()]
    versions = [v for m in state["registered_models"].values() for v in m["versions"].values()]
    return {
        "experiments": len(state["experiments"]),
        "runs": len(runs),
        "metric_values": sum(len(h) for r in runs for h in r["metrics"].values()),
        "run_artifacts": sum(len(r["artifacts"]) for r in runs),
        "registered_models": len(state["registered_models"]),
        "model_versions": len(versions),
        "model_files": sum(len(v["files"]) for v in versions),
        "aliases": sum(len(m["aliases"]) for m in state["registered_models"].values()),
    }


def differences(source: Any, restored: Any, where: str = "") -> list[str]:
    """Each place where ``restored`` differs from ``source`` (a JSON path and both values)."""
    if isinstance(source, dict) and isinstance(restored, dict):
        out = []
        for key in sorted(set(source) | set(restored), key=str):
            path = f"{where}/{key}"
            if key not in restored:
                out.append(f"{path}: missing after the restore")
            elif key not in source:
                out.append(f"{path}: not in the source")
            else:
                out.extend(differences(source[key], restored[key], path))
        return out
    if source != restored:
        return [f"{where or '/'}: {json.dumps(source)[:200]} != {json.dumps(restored)[:200]}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cap = sub.add_parser("capture", help="write the server's state as JSON")
    cap.add_argument("--tracking-uri", required=True)
    cap.add_argument("--out", required=True, type=Path)
    cap.add_argument("--credentials-stdin", action="store_true")
    cmp_ = sub.add_parser("compare", help="list the differences of two states")
    cmp_.add_argument("source", type=Path)
    cmp_.add_argument("restored", type=Path)
    args = parser.parse_args(argv)
    if args.command == "capture":
        if args.credentials_stdin:
            credentials = json.load(sys.stdin)
            os.environ["MLFLOW_TRACKING_USERNAME"] = credentials["username"]
            os.environ["MLFLOW_TRACKING_PASSWORD"] = credentials["password"]
        state = capture(args.tracking_uri)
        args.out.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
        print(json.dumps(summary(state)))
        return 0
    source = json.loads(args.source.read_text())
    restored = json.loads(args.restored.read_text())
    found = differences(source, restored)
    for line in found:
        print(line)
    print(json.dumps({"equal": not found, "differences": len(found), **summary(source)}))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
