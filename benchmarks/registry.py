"""Model registry against MLflow (in its own virtual environment), same run, same model.

    .venv/bin/python benchmarks/registry.py              # a 50 MB model, 3 repeats (~2 minutes)
    .venv/bin/python benchmarks/registry.py --quick      # a 5 MB model
    .venv/bin/python benchmarks/registry.py --skip-peer  # Loopline only

Measured (issue 5, "Shown by"): for a scikit-learn model whose pickle is ~50 MiB (a
brute-force KNeighborsClassifier holding 595,750 rows of 10 float64 points and a label),
embedded on each side (MLflow: a ``sqlite:///`` tracking URI and a local artifact folder;
Loopline: the embedded SQLite default and blob folder under a temporary LOOPLINE_HOME):

- log: ``mlflow.sklearn.log_model(model, name="model")`` / ``ll.log_model(model, "model")``
  inside an open run (no input example on either side). MLflow infers the requirements by
  default (it imports the model in a subprocess); "log, requirements given" passes
  ``pip_requirements`` / ``requirements`` instead, on a model trained on other data;
- register: ``mlflow.register_model(model_uri, name)`` / ``ll.register_model(logged, name)``;
- load: ``mlflow.sklearn.load_model("models:/name/1")`` / ``ll.load_model("models:/name/1")``
  in a process that has not loaded it before (Loopline's cache emptied first), then a second
  load of the same version (Loopline answers from its verified cache; MLflow downloads again);
- every load is checked: the loaded model predicts the same as the original.

Each repeat trains on other data (another seed), so no side gets content it stored before.
Each side runs in its own fresh process; MLflow is installed once (``python3 -m venv`` + pip)
into benchmarks/.peers/mlflow and reused. Its telemetry is off; nothing leaves the machine.
Figures are medians over the repeats.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _machine import machine

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
PEER_VENV = PEERS / "mlflow"
PEER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
}
ROWS_PER_MB = 11_915  # rows of 10 float64 points and a label: 1 MiB of pickle

console = Console(width=None if sys.stdout.isatty() else 130)


def build_model(rows: int, seed: int) -> Any:
    """The benchmark's model, the same on both sides: it keeps its training points."""
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 10))
    y = (x[:, 0] > 0).astype(int)
    return KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(x, y), x[:5]


MLFLOW_MAIN = """
def main() -> None:
    import logging, pickle, time, warnings
    import numpy as np
    import mlflow, mlflow.sklearn

    warnings.simplefilter("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    spec = json.loads(Path(sys.argv[1]).read_text())
    work = Path(spec["work"])
    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    out = {"log": [], "log_given": [], "register": [], "load": [], "load_again": [], "size": 0,
           "version": mlflow.__version__}
    for i in range(spec["repeats"]):
        model, probe = build_model(spec["rows"], spec["seed"] + i)
        out["size"] = len(pickle.dumps(model, protocol=5))
        expected = model.predict(probe)
        exp = mlflow.create_experiment(f"bench-{i}", artifact_location=(work / f"art-{i}").as_uri())
        with mlflow.start_run(experiment_id=exp):
            start = time.perf_counter()
            info = mlflow.sklearn.log_model(model, name="model")
            out["log"].append(time.perf_counter() - start)
        other, _ = build_model(spec["rows"], spec["seed"] + 1000 + i)
        with mlflow.start_run(experiment_id=exp):
            start = time.perf_counter()
            mlflow.sklearn.log_model(other, name="model", pip_requirements=spec["requirements"])
            out["log_given"].append(time.perf_counter() - start)
        start = time.perf_counter()
        version = mlflow.register_model(info.model_uri, f"bench-{i}")
        out["register"].append(time.perf_counter() - start)
        for key in ("load", "load_again"):
            start = time.perf_counter()
            loaded = mlflow.sklearn.load_model(f"models:/bench-{i}/{version.version}")
            out[key].append(time.perf_counter() - start)
            assert (loaded.predict(probe) == expected).all()
    print("RESULT " + json.dumps(out), flush=True)


main()
"""

LOOPLINE_MAIN = """
def main() -> None:
    import pickle, shutil, time
    import loopline as ll

    spec = json.loads(Path(sys.argv[1]).read_text())
    home = Path(os.environ["LOOPLINE_HOME"])
    out = {"log": [], "log_given": [], "register": [], "load": [], "load_again": [], "size": 0,
           "version": ll.__version__}
    for i in range(spec["repeats"]):
        model, probe = build_model(spec["rows"], spec["seed"] + i)
        out["size"] = len(pickle.dumps(model, protocol=5))
        expected = model.predict(probe)
        with ll.start_run(project="bench", capture=False):
            start = time.perf_counter()
            logged = ll.log_model(model, "model")
            out["log"].append(time.perf_counter() - start)
        other, _ = build_model(spec["rows"], spec["seed"] + 1000 + i)
        with ll.start_run(project="bench", capture=False):
            start = time.perf_counter()
            ll.log_model(other, "model", requirements=spec["requirements"])
            out["log_given"].append(time.perf_counter() - start)
        start = time.perf_counter()
        version = ll.register_model(logged, f"bench-{i}")
        out["register"].append(time.perf_counter() - start)
        shutil.rmtree(home / "models", ignore_errors=True)  # a cold load: nothing cached
        for key in ("load", "load_again"):
            start = time.perf_counter()
            loaded = ll.load_model(f"models:/bench/bench-{i}/{version.number}")
            out[key].append(time.perf_counter() - start)
            assert (loaded.predict(probe) == expected).all()
    print("RESULT " + json.dumps(out), flush=True)


main()
"""


def side_script(main: str) -> str:
    header = (
        "from __future__ import annotations\nimport json, os, sys\n"
        "from pathlib import Path\nfrom typing import Any\n"
    )
    return header + textwrap.dedent(inspect.getsource(build_model)) + main


def ensure_peer() -> Path:
    """The MLflow environment: made once with ``python3 -m venv`` + pip, then reused."""
    python = PEER_VENV / "bin" / "python"
    check = [str(python), "-c", "import mlflow, sklearn"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    console.print(f"Installing mlflow and scikit-learn into {PEER_VENV} (a few minutes) ...")
    subprocess.run(["python3", "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "mlflow", "scikit-learn"]
    subprocess.run(pip, check=True)
    return python


def run_side(
    python: str, script: str, work: Path, spec: dict[str, Any], env: dict[str, str]
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    path = work / "side.py"
    path.write_text(script, encoding="utf-8")
    spec_file = work / "spec.json"
    spec_file.write_text(json.dumps({**spec, "work": str(work)}), encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    proc = subprocess.run(
        [python, str(path), str(spec_file)],
        capture_output=True,
        text=True,
        cwd=work,
        env={**clean, **env},
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(
        f"the side in {work} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 5 MB model instead of 50 MB")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-peer", action="store_true", help="measure Loopline only")
    args = parser.parse_args()
    megabytes = 5 if args.quick else 50
    import sklearn

    spec = {
        "rows": megabytes * ROWS_PER_MB,
        "seed": 20261124,
        "repeats": args.repeats,
        "requirements": [f"scikit-learn=={sklearn.__version__}"],
    }
    console.print(f"[bold]Machine:[/] {machine()}; load {os.getloadavg()[0]:.2f}")
    console.print(
        f"Model: ~{megabytes} MB (KNeighborsClassifier, brute force), {args.repeats} repeats"
    )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="loopline-bench-registry-") as tmp:
        work = Path(tmp)
        if not args.skip_peer:
            python = ensure_peer()
            results["MLflow"] = run_side(
                str(python), side_script(MLFLOW_MAIN), work / "mlflow", spec, PEER_ENV
            )
        home = work / "loopline" / "home"
        results["Loopline"] = run_side(
            sys.executable,
            side_script(LOOPLINE_MAIN),
            work / "loopline",
            spec,
            {"LOOPLINE_HOME": str(home)},
        )
    table = Table(
        title=(
            f"log + register + load of a {results['Loopline']['size'] / 2**20:.1f} MiB model "
            f"(median s)"
        )
    )
    table.add_column("step")
    for name, data in results.items():
        table.add_column(f"{name} {data['version']}", justify="right")
    if "MLflow" in results:
        table.add_column("MLflow / Loopline", justify="right")
    rows = {}
    for step in ("log", "log_given", "register", "load", "load_again"):
        rows[step] = {name: statistics.median(data[step]) for name, data in results.items()}
    rows["log + register + load"] = {
        name: rows["log"][name] + rows["register"][name] + rows["load"][name] for name in results
    }
    for step, values in rows.items():
        cells = [f"{values[name]:.3f}" for name in results]
        if "MLflow" in results:
            cells.append(f"{values['MLflow'] / values['Loopline']:.1f}x")
        label = {"log_given": "log, requirements given", "load_again": "load again"}
        table.add_row(label.get(step, step), *cells)
    console.print(table)
    summary = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model_bytes": results["Loopline"]["size"],
        "raw": results,
    }
    console.print_json(json.dumps(summary))


if __name__ == "__main__":
    main()
