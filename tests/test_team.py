"""Team mode against a real JupyterHub, real local accounts and the workbench service as its own
account (tests/hub.py; docs/team.md): identity only from hub tokens, roles decided by the
service, secrets and the home out of everyone else's reach, changes made once."""

from __future__ import annotations

import time

import pytest

import workbench
from workbench.errors import InvalidInput, PermissionDenied
from workbench.service.client import RemoteWorkbench

from . import hub as hubs

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(hubs.skip_reason() is not None,
                                 reason=hubs.skip_reason() or "")]

YOUNG = {"name": "Team young", "rules": [{"attribute": "age", "op": "between",
                                          "value": [25, 34]}]}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with hubs.running_hub(tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture(scope="module")
def tokens(hub):
    return {role: hub.token(name)[0] for role, name in hub.people.items()}


def open_as(hub, tokens, role: str) -> RemoteWorkbench:
    return RemoteWorkbench(hub.service, tokens[role])


def test_a_call_without_a_token_or_with_one_the_hub_does_not_know_is_refused(hub):
    bare = hub.call(None, "audiences", "list")
    assert bare.status_code == 401
    assert "sign in through JupyterHub" in bare.json()["message"]
    forged = hub.call("not-a-token", "audiences", "list")
    assert forged.status_code == 403
    assert "does not vouch" in forged.json()["message"]
    # Cookies, headers and fields name nobody: only the token does.
    asserted = hub.call(None, "audiences", "list", headers={
        "X-Workbench-User": hub.people["admin"], "Cookie": "jupyterhub-user=admin"})
    assert asserted.status_code == 401


def test_the_analyst_works_through_the_same_python_api(hub, tokens):
    wb = open_as(hub, tokens, "analyst")
    assert (wb.user.name, wb.user.role.value) == (hub.people["analyst"], "analyst")
    names = [a.name for a in wb.audiences.list()]
    assert "Champions" in names
    estimate = wb.audiences.estimate(YOUNG)
    assert 0 < estimate.size < estimate.base == 2000
    created = wb.audiences.create(YOUNG)
    assert created.created_by == hub.people["analyst"] and created.status == "draft"
    members = wb.audiences.members(1)
    assert list(members.columns) == ["customer_id"] and len(members) > 0
    entry = wb.audit(audience=created.id).iloc[0]
    assert (entry.user, entry.via, entry.action) == (hub.people["analyst"], "api",
                                                    "audience.create")


def test_a_viewer_reads_and_every_change_is_refused_with_the_reason(hub, tokens):
    wb = open_as(hub, tokens, "viewer")
    assert wb.user.role.value == "viewer"
    assert wb.audiences.list()
    for call in (lambda: wb.audiences.create(YOUNG), lambda: wb.audiences.archive(1),
                 lambda: wb.exports.cancel(1), lambda: wb.destinations.remove(1)):
        with pytest.raises(PermissionDenied, match="is a viewer"):
            call()
    raw = hub.call(tokens["viewer"], "audiences", "create", YOUNG,
                   headers={"Idempotency-Key": "v1"})
    assert raw.status_code == 403
    assert raw.json()["message"].startswith(f"{hub.people['viewer']} is a viewer; audience.edit")
    # What the client shows of its user is a label: raising it locally grants nothing.
    object.__setattr__(wb, "user", type(wb.user)(wb.user.name, type(wb.user.role)("admin")))
    with pytest.raises(PermissionDenied):
        wb.audiences.create(YOUNG)


def test_nobody_acts_as_another_user(hub, tokens, monkeypatch):
    monkeypatch.setenv("WORKBENCH_TOKEN", tokens["viewer"])
    with pytest.raises(InvalidInput, match="hub token"):
        workbench.open(hub.service, user=hub.people["admin"])
    monkeypatch.setenv("WORKBENCH_USER", hub.people["admin"])
    wb = workbench.open(hub.service)
    assert wb.user.name == hub.people["viewer"]


def test_revoked_and_expired_tokens_and_removed_users_are_refused(hub):
    name = hub.people["analyst"]
    token, token_id = hub.token(name)
    assert hub.call(token, "audiences", "list").status_code == 200
    hub.revoke(name, token_id)
    assert _refused_soon(hub, token)
    short, _ = hub.token(name, expires_in=1)
    time.sleep(1.5)
    assert _refused_soon(hub, short)
    # Someone removed from the hub while holding a token (made through the hub's API).
    leaving = f"wbtgo{hub.account[-6:]}"
    hubs.add_account(leaving, None)  # PAM's hub adds only people with a local account
    try:
        hub.api("POST", f"/users/{leaving}").raise_for_status()
        gone, _ = hub.token(leaving)
        assert hub.call(gone, "audiences", "list").status_code == 200
        hub.api("DELETE", f"/users/{leaving}").raise_for_status()
        assert _refused_soon(hub, gone)
    finally:
        hubs.remove_account(leaving)


def _refused_soon(hub, token: str, seconds: float = 10) -> bool:
    """Refused within the service's cache of the hub's answers (a few seconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if hub.call(token, "audiences", "list").status_code == 403:
            return True
        time.sleep(0.5)
    return False


def test_the_home_is_closed_to_every_other_account(hub):
    python = str(hub.venv / "bin" / "python")
    for path in (hub.home / "secret.key", hub.home / "workbench.db", hub.home):
        tried = hub.as_account(hub.people["analyst"], python, "-c",
                               f"import os; os.listdir({str(path)!r}) if os.path.isdir("
                               f"{str(path)!r}) else open({str(path)!r}).read()")
        assert tried.returncode == 1 and "PermissionError" in tried.stderr, tried.stderr
    embedded = hub.as_account(hub.people["analyst"], str(hub.venv / "bin" / "workbench"),
                              "--home", str(hub.home), "audience", "list")
    assert embedded.returncode != 0
    assert "ermission denied" in embedded.stderr and "internal error" not in embedded.stderr


def test_a_change_sent_twice_with_its_key_is_made_once_across_a_restart(hub, tokens):
    analyst = open_as(hub, tokens, "analyst")
    body = {**YOUNG, "name": "Made once"}
    first = hub.call(tokens["analyst"], "audiences", "create", body,
                     headers={"Idempotency-Key": "once-1"})
    assert first.status_code == 200
    old = hub.service_pid()
    import os
    import signal
    os.kill(old, signal.SIGKILL)
    # The same client goes on: its next call waits for the service to be back.
    assert any(a.name == "Made once" for a in analyst.audiences.list())
    assert hub.service_pid() != old
    again = hub.call(tokens["analyst"], "audiences", "create", body,
                     headers={"Idempotency-Key": "once-1"})
    assert again.status_code == 200 and again.json() == first.json()
    assert [a.name for a in analyst.audiences.list()].count("Made once") == 1
    other = hub.call(tokens["analyst"], "audiences", "archive", 1,
                     headers={"Idempotency-Key": "once-1"})
    assert other.status_code == 422 and "was used for audiences.create" in other.json()["message"]


@pytest.mark.parametrize("body, status, says", [
    (b"{not json", 400, "not JSON"),
    (b'{"args": [], "kwargs": {}, "user": "root"}', 400, '"args"'),
    (b'{"args": [{"$t": "dc", "cls": "os:system", "v": {}}]}', 400, "not a workbench class"),
    (b'{"args": [], "kwargs": {"colour": 1}}', 400, "unexpected keyword"),
])
def test_malformed_calls_get_one_line_and_a_status(hub, tokens, body, status, says):
    import requests

    answer = requests.post(f"{hub.service}api/v1/call/audiences/list", data=body, timeout=30,
                           headers={"Authorization": f"token {tokens['analyst']}"})
    assert answer.status_code == status
    assert says in answer.json()["message"] and "\n" not in answer.json()["message"]


def test_a_huge_body_is_refused_and_nothing_of_it_kept(hub, tokens):
    import requests

    answer = requests.post(f"{hub.service}api/v1/call/audiences/create",
                           data=b"x" * (100 * 2**20), timeout=120,
                           headers={"Authorization": f"token {tokens['analyst']}"})
    assert answer.status_code == 413
    assert "at most 8 MB" in answer.json()["message"]


@pytest.mark.parametrize("value", ["../../x", "1\nimport os", 10**30, None, -1])
def test_a_run_is_started_only_by_who_may_and_only_for_a_run_that_exists(hub, tokens, value):
    runs = hub.home / "runs" / "exports"
    before = sorted(runs.iterdir()) if runs.exists() else []
    assert hub.call(tokens["viewer"], "workbench", "run_export", 1).status_code == 403
    assert hub.call(tokens["admin"], "workbench", "run_export", value).status_code in (400, 404)
    assert (sorted(runs.iterdir()) if runs.exists() else []) == before


def test_a_class_named_by_a_client_imports_nothing_and_stops_nothing(hub, tokens):
    import requests

    pid = hub.service_pid()
    for cls in ("workbench.__main__:x", "workbench.service.__main__:x"):
        answer = requests.post(f"{hub.service}api/v1/call/audiences/list", timeout=30,
                               json={"args": [{"$t": "enum", "cls": cls, "v": 1}]},
                               headers={"Authorization": f"token {tokens['viewer']}"})
        assert answer.status_code == 400, answer.text
    assert hub.service_pid() == pid


def test_an_unknown_call_and_the_scheduler_s_own_verbs_are_not_offered(hub, tokens):
    for noun, verb in (("destinations", "target"), ("export_runs", "sweep"),
                       ("processing", "recover"), ("audiences", "_records")):
        answer = hub.call(tokens["admin"], noun, verb)
        assert answer.status_code == 404, (noun, verb)


def sign_in(browser, hub, role: str):
    """A browser of the person with ``role``, signed in at the hub's login page (PAM)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login")
    name = hub.people[role]
    page.fill("#username_input", name)
    page.fill("#password_input", hub.passwords[name])
    page.click("#login_submit")
    return page


def dashboard_ready(page) -> None:
    page.wait_for_selector(".wb-user", timeout=120_000)  # spawn, Voilà, kernel: cold
    page.wait_for_selector("table.wb-table >> text=Champions", timeout=60_000)


def test_people_sign_in_and_a_forwarded_link_opens_as_whoever_signs_in(hub, browser):
    from tests.served import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    viewer = sign_in(browser, hub, "viewer")
    dashboard_ready(viewer)  # a viewer lands on the dashboards
    assert viewer.locator(".wb-user").inner_text() == f"{hub.people['viewer']} (viewer)"
    assert viewer.locator("button:has-text('New audience')").count() == 0
    assert "/hub/user-redirect/" in viewer.url  # the address to share names nobody's server
    viewer.screenshot(path=str(SHOTS / "40-team-viewer-dashboard.png"))

    analyst = sign_in(browser, hub, "analyst")
    analyst.wait_for_url("**/lab**", timeout=120_000)  # an analyst lands in JupyterLab
    analyst.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    analyst.wait_for_selector(".jp-DirListing-item >> text=dashboards", timeout=60_000)
    analyst.screenshot(path=str(SHOTS / "41-team-analyst-lab.png"))
    analyst.goto(f"{hub.url}/hub/user-redirect/voila/render/dashboards/audiences.ipynb"
                 "?audience=2")
    analyst.wait_for_selector(".wb-user", timeout=120_000)
    analyst.wait_for_selector("text=Champions", timeout=60_000)
    assert analyst.locator(".wb-user").inner_text() == f"{hub.people['analyst']} (analyst)"
    link = analyst.url
    assert "/hub/user-redirect/" in link and "audience=2" in link

    viewer.goto(link)  # forwarded: it opens the viewer's own server, as the viewer
    viewer.wait_for_selector(".wb-user", timeout=120_000)
    viewer.wait_for_selector("text=Champions", timeout=60_000)
    assert viewer.locator(".wb-user").inner_text() == f"{hub.people['viewer']} (viewer)"
    viewer.wait_for_selector(".vega-embed svg", timeout=60_000)  # its size over time, drawn
    assert f"/user/{hub.people['viewer']}/" in viewer.evaluate("document.baseURI") or \
        "/hub/user-redirect/" in viewer.url
    viewer.screenshot(path=str(SHOTS / "42-team-forwarded-link-as-viewer.png"))
    # Another person's server is not theirs to open.
    other = viewer.goto(f"{hub.url}/user/{hub.people['analyst']}/lab")
    assert other.status in (403, 404)
    viewer.context.close()
    analyst.context.close()


def test_the_service_runs_on_a_postgresql_store(postgres, tmp_path):
    from tests.postgres import skip_reason

    if skip_reason():
        pytest.skip(skip_reason())
    with hubs.running_hub(tmp_path, store_url=postgres.database()) as hub:
        token, _ = hub.token(hub.people["analyst"])
        wb = RemoteWorkbench(hub.service, token)
        assert {a.name for a in wb.audiences.list()} >= {"Champions"}
        made = wb.audiences.create(YOUNG)
        assert wb.audiences.get(made.id).created_by == hub.people["analyst"]
        assert wb.audit(audience=made.id).iloc[0].user == hub.people["analyst"]


def test_the_command_line_reaches_the_service_with_a_token(hub, tokens):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "WORKBENCH_URL": hub.service, "WORKBENCH_TOKEN": tokens["analyst"],
           "WORKBENCH_USER": hub.people["admin"]}
    env.pop("WORKBENCH_HOME", None)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "workbench", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    listed = cli("audience", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "Champions" in {a["name"] for a in json.loads(listed.stdout)}
    trail = cli("audit", "--json")
    assert trail.returncode == 0 and json.loads(trail.stdout)
    refused = cli("--user", "root", "audience", "list")
    assert refused.returncode == 2 and "hub token" in refused.stderr
    env["WORKBENCH_TOKEN"] = tokens["viewer"]
    archive = cli("audience", "archive", "1")
    assert archive.returncode == 1
    assert archive.stderr.startswith(f"workbench: {hub.people['viewer']} is a viewer")
