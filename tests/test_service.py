"""The pure parts of team mode (docs/team.md): what crosses the wire, who gets which role, what
the hub is told. The service itself is tested against a real hub in test_team.py."""

from __future__ import annotations

import json
import pwd
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from workbench.errors import InvalidDefinition, Problem
from workbench.run_states import RunState
from workbench.service import api, codec
from workbench.service.client import _error
from workbench.service.hub import hub_settings, unreachable
from workbench.service.server import _body, status_of
from workbench.settings import Role
from workbench.users import hub_user


def roundtrip(value):
    return codec.decode(json.loads(json.dumps(codec.encode(value))))


def test_the_services_values_come_back_as_they_left(wb):
    audience = wb.audiences.create({"name": "Wire", "rules": [
        {"attribute": "age", "op": "between", "value": [25, 34]}]})
    back = roundtrip(audience)
    assert back == audience and type(back.definition) is type(audience.definition)
    assert roundtrip(RunState.COMPLETE) is RunState.COMPLETE
    assert roundtrip({"at": datetime(2026, 3, 10, 1, tzinfo=UTC), "day": date(2026, 3, 9),
                      "$t": "a key of the data"}) == {
        "at": datetime(2026, 3, 10, 1, tzinfo=UTC), "day": date(2026, 3, 9),
        "$t": "a key of the data"}
    assert roundtrip([Problem("name", "required", 2)]) == [Problem("name", "required", 2)]


def test_a_table_keeps_its_types():
    frame = pd.DataFrame({"customer_id": ["C1", "C2"], "size": pd.array([1, None], "Int64"),
                          "day": pd.to_datetime(["2026-03-09", "2026-03-10"]).date})
    back = roundtrip(frame)
    pd.testing.assert_frame_equal(back, frame)


@pytest.mark.parametrize("value, says", [
    ({"$t": "dc", "cls": "os:system", "v": {}}, "not a workbench class"),
    ({"$t": "dc", "cls": "workbench.errors:Problem", "v": {"field": "a", "message": "b",
                                                          "evil": 1}}, "no field evil"),
    ({"$t": "dc", "cls": "workbench.app:Workbench", "v": {}}, "workbench.app:Workbench"),
    ({"$t": "pickle", "v": "gASV"}, "unknown value tag"),
    ({"$t": "frame", "v": "not base64!"}, "cannot be read"),
    ({"$t": "date", "v": 20260310}, "expected text"),
])
def test_nothing_outside_the_package_s_plain_values_is_rebuilt(value, says):
    with pytest.raises((codec.Undecodable, TypeError), match=says):
        codec.decode(value)


def test_the_role_is_the_highest_the_settings_or_hub_groups_give(wb):
    settings = wb.settings.model_copy(update={"users": {"ana": Role.analyst}})
    assert hub_user(settings, "ana", []).role is Role.analyst
    assert hub_user(settings, "ana", ["workbench-admins"]).role is Role.admin
    assert hub_user(settings, "bo", ["workbench-viewers", "staff"]).role is Role.viewer
    assert hub_user(settings, "cy", ["workbench-analysts"]).role is Role.analyst
    assert hub_user(settings, "dee", []).role is Role.viewer


def test_a_refusal_comes_back_as_the_error_the_embedded_api_raises():
    error = _error({"error": "InvalidDefinition", "message": "invalid audience definition: "
                    "rule 1 (age): between needs [low, high]", "problems": [
                        {"field": "rule 1 (age)", "message": "between needs [low, high]",
                         "rule": 1}]}, 400)
    assert isinstance(error, InvalidDefinition) and error.problems[0].rule == 1
    assert type(_error({"error": "SystemExit", "message": "x"}, 403)).__name__ == \
        "PermissionDenied"
    assert status_of(InvalidDefinition("x")) == 400


@pytest.mark.parametrize("raw, refused", [
    (b"", False), (b'{"args": [1], "kwargs": {"a": 2}}', False), (b"[]", True),
    (b'{"args": {}}', True), (b'{"who": "root"}', True), (b"\xff\xfe", True),
])
def test_a_call_s_body_is_args_and_kwargs_only(raw, refused):
    assert isinstance(_body(raw), str) is refused


def test_only_listed_verbs_are_offered_and_none_opens_a_secret():
    assert api.kind_of("audiences", "create") == api.CHANGE
    assert api.kind_of("audiences", "estimate") == api.READ
    for noun, verb in (("destinations", "target"), ("export_runs", "execute"),
                       ("export_runs", "sweep"), ("processing", "run"), ("store", "engine"),
                       ("audiences", "__init__")):
        assert api.kind_of(noun, verb) is None


def test_a_folder_closed_to_the_service_account_is_named(tmp_path):
    nobody = pwd.getpwnam("nobody")
    closed = tmp_path / "closed"
    (closed / "home").mkdir(parents=True)
    closed.chmod(0o700)
    blocked = unreachable(closed / "home", nobody)
    assert blocked is not None and not blocked.stat().st_mode & 0o001
    assert closed == blocked or closed.is_relative_to(blocked)
    assert unreachable(__import__("pathlib").Path("/usr/bin"), nobody) is None


def test_the_hub_is_told_who_may_sign_in_and_what_passes_on(wb, monkeypatch):
    monkeypatch.setenv("WORKBENCH_NOW", "2026-03-11T01:00:00+00:00")
    settings = wb.settings.model_copy(update={"users": {"ana": Role.analyst,
                                                        "svc": Role.admin}})
    told = hub_settings(wb.home, settings, "svc", ip="127.0.0.1", port=8000,
                        state=wb.home.root / "state", ssl=None, config=None)
    assert told["users"] == {"ana": "analyst"}  # the service account signs in nowhere
    assert (told["hub_port"], told["service_port"]) == (8001, 8003)
    assert told["environment"]["WORKBENCH_NOW"] == "2026-03-11T01:00:00+00:00"
    assert told["groups"]["workbench-admins"] == "admin"


@pytest.mark.parametrize("value", [
    {"$t": "enum", "cls": "workbench.__main__:x", "v": 1},
    {"$t": "enum", "cls": "workbench.service.__main__:x", "v": 1},
    {"$t": "enum", "cls": "workbench.settings:Role", "v": 1},
    {"$t": "date", "v": "2026-99-99"}, {"$t": "datetime", "v": "x"}])
def test_a_value_no_client_may_send_is_undecodable_and_runs_nothing(value):
    import sys

    before = set(sys.modules)
    with pytest.raises(codec.Undecodable):
        codec.decode(value)
    assert not {m for m in set(sys.modules) - before if "__main__" in m}


def test_root_and_system_accounts_never_sign_in_through_the_hub(wb):
    from workbench.service.hub import team

    settings = wb.settings.model_copy(update={"users": {"root": Role.admin, "daemon": Role.admin,
                                                        "ana": Role.analyst}})
    assert team(settings, "svc") == {"ana": Role.analyst}


def test_a_client_knows_the_settings_the_pages_read(wb):
    # Pages read settings.currency (composition buckets) and backfill_days (the audience page
    # after activation): a client's settings must carry them, as the embedded ones do.
    from workbench.service.client import RemoteSettings

    about = api._about(wb)
    remote = RemoteSettings(about["timezone"], about["currency"], about["backfill_days"])
    for name in ("timezone", "currency", "backfill_days"):
        assert getattr(remote, name) == getattr(wb.settings, name)
