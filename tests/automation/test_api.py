"""The automation API over HTTP: the remote client and the server give the same answers, and bad
input gets a 4xx naming the field."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import loopline as ll
from loopline import Client
from loopline.config import Settings
from loopline.errors import InvalidInput, NotFound
from tests.automation.conftest import publish_flow


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_triggers_policies_and_the_timeline_over_http(
    server_url: str, settings: Settings, tmp_path: Path
) -> None:
    remote = Client(
        settings=Settings.from_env(
            {
                "LOOPLINE_URI": server_url,
                "LOOPLINE_HOME": str(tmp_path / "remote"),
                "LOOPLINE_USER": "ada",
                "LOOPLINE_PROJECT": "loop",
            }
        )
    )
    try:
        remote.create_project("loop")
        publish_flow(remote, tmp_path)
        made = ll.automation.trigger(
            "nightly", on="cron", template="retrain", cron="0 3 * * *", client=remote
        )
        assert (made.version, made.kind) == (1, "cron")
        edited = ll.automation.trigger(
            "nightly", on="cron", template="retrain", cron="0 4 * * *", client=remote
        )
        assert edited.version == 2
        assert [v.version for v in ll.automation.trigger_history("nightly", client=remote)] == [
            2,
            1,
        ]
        assert ll.automation.pause("nightly", client=remote).enabled is False
        assert [t.name for t in ll.automation.triggers(client=remote)] == ["nightly"]
        with pytest.raises(InvalidInput, match="cron"):
            ll.automation.trigger("bad", on="cron", template="retrain", cron="daily", client=remote)
        with pytest.raises(NotFound, match="retrain"):
            ll.automation.trigger("bad", on="manual", template="retrian", client=remote)
        with pytest.raises(InvalidInput, match="canary_percent"):
            ll.delivery_policy("api", canary_percent=150, client=remote)
        assert ll.automation.timeline(client=remote) == []
        report = ll.automation.tick(client=remote)
        assert report.errors == ()
        answer = httpx.put(
            f"{server_url}/api/v1/projects/loop/automation/triggers/x",
            json={"definition": {"kind": "cron", "template": "retrain", "debounce": "soon"}},
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["details"] == {"field": "cron"}
    finally:
        remote.close()
