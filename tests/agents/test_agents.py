"""Agents end to end: a real server process, real agent processes, `p.run(executor="queue")`."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from loopline import Client
from loopline.agents import TaskRecord
from loopline.config import Settings
from loopline.errors import InvalidInput
from loopline.pipelines import PipelineFailed
from loopline.pipelines._runner import PipelineResult
from tests.agents import flows
from tests.agents.processes import Processes, eventually


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLINE_")}
    env.update({"LOOPLINE_HOME": str(tmp_path / "agent-home"), flows.GATE: str(gate)})
    os.environ[flows.GATE] = str(gate)
    processes = Processes(tmp_path, env)
    processes.start_server()
    try:
        yield processes
    finally:
        processes.close()
        os.environ.pop(flows.GATE, None)


@pytest.fixture
def client(procs: Processes, tmp_path: Path) -> Iterator[Client]:
    made = Client(
        settings=Settings.from_env(
            {
                "LOOPLINE_URI": procs.url,
                "LOOPLINE_HOME": str(tmp_path / "client-home"),
                # Rides out a server restart (retries back off over about 100 s).
                "LOOPLINE_HTTP_RETRIES": "10",
            }
        )
    )
    yield made
    made.close()


def _gate(procs: Processes) -> Path:
    return Path(procs.env[flows.GATE])


def _started(procs: Processes) -> list[int]:
    return [int(p.name.split("-")[1]) for p in _gate(procs).glob("started-*")]


def _step_tasks(client: Client, name: str) -> list[TaskRecord]:
    return [t for t in client._backend.list_tasks(limit=1000) if t.name.startswith(name)]


def _in_background(fn: object, *args: object, **kwargs: object) -> Future[PipelineResult]:
    pool = ThreadPoolExecutor(1)
    future: Future[PipelineResult] = pool.submit(fn, *args, **kwargs)  # type: ignore[arg-type]
    pool.shutdown(wait=False)
    return future


def test_agents_run_a_pipeline_from_the_queue(procs: Processes, client: Client) -> None:
    (_gate(procs) / "release").touch()
    procs.start_agent("one", "--concurrency", "2")
    procs.start_agent("two")
    result = flows.summing.run(executor="queue", client=client, n=4)
    assert result.status == "succeeded"
    assert result.output("report") == "4 values, total 6"
    assert sorted(result.ran) == ["numbers", "report", "slow", "total"]
    tasks = client._backend.list_tasks(limit=100)
    assert len(tasks) == 4
    assert {t.status for t in tasks} == {"succeeded"}
    agents = {a.id: a for a in client._backend.list_agents()}
    assert {a.name for a in agents.values()} == {"one", "two"}
    assert {t.agent_id for t in tasks} <= set(agents)
    # The step logged into its tracked run from the agent's process.
    step_run = result.record.step("total").run_id
    assert step_run is not None
    assert client.get_run(step_run).metrics["total"] == 6.0
    assert "summing 4 values" in client.read_console(step_run).text
    # A second run is served from the cache: nothing is queued.
    again = flows.summing.run(executor="queue", client=client, n=4)
    assert again.cached == ["numbers", "slow", "total", "report"] or set(again.cached) == {
        "numbers",
        "slow",
        "total",
        "report",
    }
    assert len(client._backend.list_tasks(limit=100)) == 4


def test_a_gpu_step_goes_to_the_gpu_queue(procs: Processes, client: Client) -> None:
    client._backend.put_queue("gpu", tags=["gpu"], priority=5)
    procs.start_agent("cpu")
    procs.start_agent("gpu", "--queue", "gpu", "--resource", "gpu=1")
    result = flows.mixed.run(executor="queue", client=client, n=3)
    assert result.output("on_gpu") == "gpu step saw 3 values"
    names = {a.id: a.name for a in client._backend.list_agents()}
    by_step = {t.name.split(" ")[0]: t for t in client._backend.list_tasks(limit=100)}
    assert by_step["on_gpu"].queue == "gpu"
    assert names[by_step["on_gpu"].agent_id or ""] == "gpu"
    assert by_step["total"].queue == "default"
    assert names[by_step["total"].agent_id or ""] == "cpu"


def test_an_agent_killed_mid_task_loses_it_to_another(procs: Processes, client: Client) -> None:
    first = procs.start_agent("doomed", "--lease", "2")
    running = _in_background(flows.summing.run, executor="queue", client=client, n=3)
    pids = eventually(lambda: _started(procs), "the slow step to start on the first agent")
    first.send_signal(signal.SIGKILL)
    first.wait()
    # The task's own process ends with its agent (no orphan keeps working).
    eventually(lambda: not _alive(pids[0]), "the killed agent's task process to end")
    (_gate(procs) / "release").touch()
    procs.start_agent("rescuer", "--lease", "2")
    result = running.result(timeout=120)
    assert result.status == "succeeded"
    assert result.output("report") == "3 values, total 3"
    [task] = _step_tasks(client, "slow")
    assert (task.status, task.attempts) == ("succeeded", 2)
    names = {a.id: a.name for a in client._backend.list_agents(include_stopped=True)}
    assert names[task.agent_id or ""] == "rescuer"


def test_a_server_restart_loses_nothing(procs: Processes, client: Client) -> None:
    procs.start_agent("steady", "--lease", "10")
    running = _in_background(flows.summing.run, executor="queue", client=client, n=3)
    eventually(lambda: _started(procs), "the slow step to start")
    [agent] = client._backend.list_agents()
    procs.stop_server()
    # The agent notices (a heartbeat fails) and keeps its task running meanwhile.
    eventually(lambda: "store unreachable" in procs.log("agent-steady"), "the agent to notice")
    procs.start_server()
    (_gate(procs) / "release").touch()
    result = running.result(timeout=120)
    assert result.status == "succeeded"
    [task] = _step_tasks(client, "slow")
    assert (task.status, task.attempts, task.agent_id) == ("succeeded", 1, agent.id)
    assert [a.id for a in client._backend.list_agents()] == [agent.id]


def test_cancelling_a_running_task_stops_it_on_the_agent(procs: Processes, client: Client) -> None:
    procs.start_agent("worker", "--lease", "3")
    running = _in_background(flows.summing.run, executor="queue", client=client, n=3)
    [pid] = eventually(lambda: _started(procs), "the slow step to start")
    task = eventually(
        lambda: [t for t in _step_tasks(client, "slow") if t.status == "running"],
        "the slow task to run",
    )[0]
    client._backend.cancel_task(task.id)
    eventually(lambda: not _alive(pid), "the cancelled step's process to end")
    with pytest.raises(PipelineFailed, match="slow"):
        running.result(timeout=60)
    assert client._backend.get_task(task.id).status == "cancelled"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent, the killed agent, never reaped it).
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_template_run_is_driven_by_an_agent(procs: Processes, client: Client) -> None:
    from loopline import agents

    flows.quick.publish("quick-template", client=client)
    procs.start_agent("driver")
    task = agents.launch("quick-template", {"n": 5}, client=client)
    assert task.kind == "pipeline"
    done = agents.wait_for(task, client=client, timeout=120)
    assert done.status == "succeeded", done.error
    [run] = client._backend.list_pipeline_runs("default", "quick-template")
    assert run.status == "succeeded"
    assert run.step("total").status == "succeeded"
    # Checked where the store is (the server), like any launch: the field is named.
    with pytest.raises(InvalidInput, match="'n'") as bad:
        agents.launch("quick-template", {"n": "five"}, client=client)
    assert bad.value.details["field"] == "n"


def test_a_sweep_spreads_its_trials_over_agents(procs: Processes, client: Client) -> None:
    from loopline import sweep

    procs.start_agent("a", "--concurrency", "2")
    procs.start_agent("b")
    result = sweep(
        flows.quick, {"n": [2, 3, 4]}, objective="total.total", executor="queue", client=client
    )
    assert [t.value for t in result.trials] == [1.0, 3.0, 6.0]
    used = {t.agent_id for t in client._backend.list_tasks(limit=100)}
    assert len(used) >= 1
    assert {t.status for t in client._backend.list_tasks(limit=100)} == {"succeeded"}


def test_a_tracked_run_is_rerun_by_an_agent(
    procs: Processes, client: Client, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from loopline import agents

    script = tmp_path / "project" / "train.py"
    script.parent.mkdir()
    script.write_text(
        "import os\n"
        "import loopline as ll\n"
        "with ll.start_run(project='default', params={'lr': '0.1'}) as run:\n"
        "    ll.log_metric('score', float(run.params['lr']) * 10)\n"
        "    ll.log_metric('marked', float(os.environ.get('LL_TEST_MARK', '0')))\n"
    )
    env = {**procs.env, "LOOPLINE_URI": procs.url}
    subprocess.run([sys.executable, str(script)], env=env, cwd=script.parent, check=True)
    [original] = client.list_runs("default")
    procs.start_agent("rerunner")
    task = agents.rerun(original.id, {"lr": "0.5"}, client=client, env={"LL_TEST_MARK": "7"})
    done = agents.wait_for(task, client=client, timeout=120)
    assert done.status == "succeeded", done.error
    clones = [r for r in client.list_runs("default") if r.cloned_from == original.id]
    # The task's declared environment reached the rerun's process on the agent.
    assert [(c.params["lr"], c.metrics["score"], c.metrics["marked"]) for c in clones] == [
        ("0.5", 5.0, 7.0)
    ]


def test_a_template_launched_with_the_queue_executor_runs_on_agents(
    procs: Processes, client: Client
) -> None:
    """`ll.launch(..., executor="queue")` and the HTTP launch route: an agent drives the run,
    its steps go through the queues, and the GPU step reaches the agent that has a GPU."""
    import httpx

    import loopline as ll

    backend = client._backend
    flows.mixed.publish("mixed-template", client=client)
    backend.put_queue("gpu", tags=["gpu"], priority=5)
    procs.start_agent("cpu", "--concurrency", "2")  # one slot drives, one runs steps
    procs.start_agent("gpu", "--queue", "gpu", "--resource", "gpu=1")
    run = ll.launch("mixed-template", {"n": 3}, executor="queue", client=client, timeout=120)
    assert run.status == "succeeded"
    tags = client.get_run(run.id).tags
    assert tags["loopline.queue"] == "default"
    task_id = str(tags["loopline.task"])
    eventually(  # the agent reports its task's end just after the run's
        lambda: backend.get_task(task_id).done, "the driving task to end"
    )
    driver = backend.get_task(task_id)
    assert (driver.kind, driver.queue, driver.status) == ("pipeline", "default", "succeeded")
    names = {a.id: a.name for a in backend.list_agents()}
    by_step = {t.name.split(" ")[0]: t for t in backend.list_tasks(limit=100) if t.kind == "step"}
    assert names[str(by_step["on_gpu"].agent_id)] == "gpu"
    assert by_step["on_gpu"].queue == "gpu"
    assert names[str(by_step["total"].agent_id)] == "cpu"

    url = f"{procs.url}/api/v1/projects/default/pipeline-templates/mixed-template/launch"
    answer = httpx.post(url, json={"params": {"n": 4}, "executor": "queue", "queue": "default"})
    assert answer.status_code == 201, answer.text
    launched = answer.json()["id"]
    done = eventually(
        lambda: backend.get_pipeline_run(launched).status != "running" or None,
        "the run launched over HTTP to end",
        timeout=120,
    )
    assert done
    assert backend.get_pipeline_run(launched).status == "succeeded"
    assert client.get_run(launched).tags["loopline.task"] in {t.id for t in backend.list_tasks()}
