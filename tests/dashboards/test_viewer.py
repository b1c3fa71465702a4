"""The viewer comes from the service's header only: no header, no user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboards.viewer import Viewer, current_viewer, parse_viewer, service_prefix


def header(**fields: object) -> str:
    return json.dumps(fields)


def test_the_header_names_the_viewer() -> None:
    assert current_viewer({"X-StockBot-User": header(name="alice", admin=False)}) == Viewer("alice", False)
    assert current_viewer({"X-StockBot-User": header(name="root", admin=True)}).admin is True


def test_the_header_name_is_matched_in_any_case() -> None:
    # Tornado hands Panel the header as "X-Stockbot-User"
    assert current_viewer({"X-Stockbot-User": header(name="bob", admin=False)}).name == "bob"
    assert current_viewer({"x-stockbot-user": [header(name="bob", admin=False)]}).name == "bob"


@pytest.mark.parametrize(
    ("headers", "needle"),
    [
        ({}, "missing"),
        ({"Cookie": "x=1"}, "missing"),
        ({"X-StockBot-User": ""}, "missing"),
        ({"X-StockBot-User": "alice"}, "not JSON"),
        ({"X-StockBot-User": "[1]"}, "JSON object"),
        ({"X-StockBot-User": header(name="alice")}, "must look like"),
        ({"X-StockBot-User": header(name="alice", admin="true")}, "must look like"),
        ({"X-StockBot-User": header(name=None, admin=True)}, "must look like"),
        ({"X-StockBot-User": header(name="", admin=False)}, "not a valid hub user name"),
        ({"X-StockBot-User": header(name="../bob", admin=False)}, "not a valid hub user name"),
        ({"X-StockBot-User": [header(name="a", admin=False), header(name="b", admin=True)]}, "one"),
        (
            {
                "X-StockBot-User": header(name="a", admin=False),
                "x-stockbot-user": header(name="b", admin=True),
            },
            "one",
        ),
    ],
)
def test_a_missing_or_bad_header_is_refused(headers: dict, needle: str) -> None:
    with pytest.raises(PermissionError, match=needle):
        current_viewer(headers)


def test_outside_a_session_nobody_is_signed_in() -> None:
    with pytest.raises(PermissionError, match="missing"):
        current_viewer()


def test_bytes_values_are_decoded() -> None:
    assert parse_viewer(header(name="carol", admin=False).encode()).name == "carol"


def test_data_root_is_the_users_data_folder(stockbot_home: Path) -> None:
    assert Viewer("alice", False).data_root == stockbot_home / "users" / "alice" / "data"


def test_who_sees_what() -> None:
    doc = {"owner": "alice"}
    assert Viewer("alice", False).can_see(doc)
    assert not Viewer("bob", False).can_see(doc)
    assert Viewer("root", True).can_see(doc)
    assert Viewer("bob", False).parent_owner == "bob"
    assert Viewer("root", True).parent_owner is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (None, "/services/stockbot/"),
        ("/services/stockbot/", "/services/stockbot/"),
        ("/hub2/services/sb", "/hub2/services/sb/"),
    ],
)
def test_service_prefix(monkeypatch: pytest.MonkeyPatch, env: str | None, expected: str) -> None:
    if env is None:
        monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    else:
        monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", env)
    assert service_prefix() == expected
