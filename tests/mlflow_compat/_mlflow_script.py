"""What a user does with the real `mlflow` client against a Loopline server (run as a process).

Reads MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_TOKEN when auth is on) from the environment;
prints one JSON object with what it read back, for the test to check.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.models.model import ModelInfo
from sklearn.linear_model import LogisticRegression


def log_files_and_model(x: np.ndarray, y: np.ndarray) -> ModelInfo:
    with tempfile.TemporaryDirectory() as tmp:
        notes = Path(tmp, "notes.txt")
        notes.write_text("hello from mlflow\n")
        mlflow.log_artifact(str(notes))
        mlflow.log_artifact(str(notes), artifact_path="docs/more")
    mlflow.log_dict({"a": 1}, "config/params.json")
    model = LogisticRegression(C=10.0).fit(x, y)
    info: ModelInfo = mlflow.sklearn.log_model(
        model,
        name="model",
        pip_requirements=["scikit-learn"],
        input_example=x[:2],
        serialization_format="cloudpickle",  # skops is not installed here
    )
    return info


def main() -> None:
    out: dict[str, object] = {}
    client = MlflowClient()
    exp_id = mlflow.create_experiment("iris-mlflow", tags={"team": "vision"})
    out["experiment_id"] = exp_id
    out["experiment_name"] = client.get_experiment(exp_id).name
    out["experiment_tags"] = client.get_experiment(exp_id).tags
    mlflow.set_experiment("iris-mlflow")  # found by name, not created again

    x = np.array([[0.0, 0.1], [0.2, 0.0], [1.0, 0.9], [0.9, 1.1]])
    y = np.array([0, 0, 1, 1])
    run_ids = []
    for c in (0.1, 1.0, 10.0):
        with mlflow.start_run(run_name=f"logreg-c{c}") as run:
            run_ids.append(run.info.run_id)
            mlflow.log_param("C", c)
            mlflow.log_params({"solver": "lbfgs", "penalty": "l2"})
            mlflow.set_tag("stage", "dev")
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1) / c, step=step)
            mlflow.log_metrics({"acc": 0.5 + c / 40, "f1": 0.4 + c / 50}, step=4)
            client.log_batch(
                run.info.run_id,
                metrics=[
                    mlflow.entities.Metric("batch_m", float(i), 1_700_000_000_000 + i, i)
                    for i in range(3)
                ],
                params=[mlflow.entities.Param("batch_p", "yes")],
                tags=[mlflow.entities.RunTag("batch_t", "on")],
            )
            if c == 10.0:
                info = log_files_and_model(x, y)
    best = run_ids[-1]
    with mlflow.start_run(run_id=best):  # resumed: tags and artifacts can still be added
        mlflow.set_tag("resumed", "yes")
    out["model_uri"] = info.model_uri
    out["run_ids"] = run_ids

    found = mlflow.search_runs(
        experiment_ids=[exp_id],
        filter_string="metrics.acc > 0.51 and params.solver = 'lbfgs' and "
        "attributes.status = 'FINISHED'",
        order_by=["metrics.acc DESC"],
    )
    out["search_ids"] = list(found["run_id"])
    out["search_names"] = list(found["tags.mlflow.runName"])
    by_name = client.search_runs([exp_id], filter_string="attributes.run_name = 'logreg-c1.0'")
    out["by_name"] = [r.info.run_id for r in by_name]
    paged = client.search_runs([exp_id], max_results=2)
    out["page_sizes"] = [len(paged), len(client.search_runs([exp_id], page_token=paged.token))]

    history = client.get_metric_history(best, "loss")
    out["history"] = [(m.step, m.value) for m in history]
    batch = client.get_metric_history(best, "batch_m")
    out["batch_history"] = [(m.step, m.value, m.timestamp) for m in batch]
    got = client.get_run(best)
    out["params"] = got.data.params
    out["tags_stage"] = got.data.tags.get("stage")
    out["tags_resumed"] = got.data.tags.get("resumed")
    out["status"] = got.info.status
    out["metrics"] = got.data.metrics

    out["artifacts"] = sorted(a.path for a in client.list_artifacts(best))
    out["artifacts_docs"] = sorted(a.path for a in client.list_artifacts(best, "docs/more"))
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            run_id=best, artifact_path="notes.txt", dst_path=tmp
        )
        out["notes"] = Path(local).read_text()
        out["params_json"] = mlflow.artifacts.load_dict(f"runs:/{best}/config/params.json")

    loaded = mlflow.sklearn.load_model(info.model_uri)
    out["sklearn_predict"] = loaded.predict(x).tolist()
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{best}/model")
    out["pyfunc_predict"] = [int(v) for v in pyfunc.predict(x)]
    out["logged_model_status"] = client.get_logged_model(info.model_id).status.name

    try:
        client.get_run("0" * 32)
    except mlflow.exceptions.MlflowException as exc:
        out["missing_error"] = exc.error_code
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
