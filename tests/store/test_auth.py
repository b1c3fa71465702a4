"""The embedded store requires authentication (SCRAM-SHA-256); the platform's credential is created
at the first start in the private state folder and never shows in a message."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from stockbot.errors import StoreError
from stockbot.store import db as store_db
from stockbot.store.server import ensure_store, stop_store, store_status
from tests.store.conftest import embedded_store

pytestmark = pytest.mark.timeout(120)

UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home whose store was started once (the first start, which creates the credential)."""
    with embedded_store(tmp_path_factory.mktemp("auth-home")) as home:
        yield home


def _port(home: Path) -> int:
    return int(json.loads((home / "store.json").read_text())["port"])


def _password(home: Path) -> str:
    return str(json.loads((home / "store" / "credentials").read_text())["password"])


def _client(uri: str) -> MongoClient:
    return MongoClient(uri, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000)


def test_an_unauthenticated_client_is_refused(home: Path) -> None:
    client = _client(f"mongodb://127.0.0.1:{_port(home)}/?directConnection=true")
    try:
        client.admin.command("ping")  # the handshake answers, as on mongod, and nothing else does
        for attempt in (
            lambda: client.stockbot.runs.find_one({}),
            client.list_database_names,
            lambda: client.stockbot.runs.insert_one({"_id": "planted"}),
            lambda: client.admin.command("usersInfo", 1),
            lambda: client.admin.command("createUser", "me", pwd="mine", roles=["root"]),
        ):
            with pytest.raises(OperationFailure) as err:
                attempt()
            assert err.value.code == UNAUTHORIZED, err.value.details
    finally:
        client.close()


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("stockbot", "stockbot"),
        ("stockbot", ""),
        ("admin", "admin"),
        ("root", "root"),
        ("stockbot", "x" * 43),
    ],
)
def test_guessed_credentials_are_refused(home: Path, user: str, password: str) -> None:
    if not password:
        password = _password(home)[:-1]  # all but one character right
    client = _client(
        f"mongodb://{user}:{password}@127.0.0.1:{_port(home)}/?authSource=admin&directConnection=true"
    )
    try:
        with pytest.raises(OperationFailure) as err:
            client.stockbot.runs.find_one({})
        assert err.value.code == AUTHENTICATION_FAILED, err.value.details
    finally:
        client.close()


def test_the_platform_uri_carries_the_credential_and_works(home: Path) -> None:
    uri = json.loads((home / "store.json").read_text())["uri"]
    assert f"stockbot:{_password(home)}@127.0.0.1:{_port(home)}" in uri
    assert len(_password(home)) >= 32
    client = _client(uri)
    try:
        client.stockbot.auth_probe.insert_one({"_id": 1})
        assert client.stockbot.auth_probe.find_one({"_id": 1}) == {"_id": 1}
        status = client.admin.command("connectionStatus")["authInfo"]["authenticatedUsers"]
        assert status == [{"user": "stockbot", "db": "admin"}]
        # SCRAM-SHA-256 named explicitly (what pymongo negotiates by default against this server)
        explicit = _client(uri + "&authMechanism=SCRAM-SHA-256")
        assert explicit.stockbot.auth_probe.count_documents({}) == 1
        explicit.close()
    finally:
        client.drop_database("stockbot")
        client.close()


def test_the_credential_and_the_record_are_private_files(home: Path) -> None:
    for name in ("store/credentials", "store.json"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((home / "store").stat().st_mode) & 0o077 == 0


def test_no_message_shows_the_password(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    password = _password(home)
    assert password not in json.dumps(store_status(home))
    # a wrong credential in a URI: the error names the server, not the secret
    wrong = (
        f"mongodb://stockbot:not-{password}@127.0.0.1:{_port(home)}/?authSource=admin&directConnection=true"
    )
    with pytest.raises(StoreError) as err:
        store_db.get_db(wrong)
    assert (
        "not-" not in str(err.value) and password not in str(err.value) and "***@127.0.0.1" in str(err.value)
    )
    store_db.close_all()
    # a start logs the address, not the credential
    stop_store(home)
    with caplog.at_level(logging.INFO, logger="stockbot.store.server"):
        ensure_store(home)
    assert "started the embedded store" in caplog.text and password not in caplog.text


def test_the_credential_survives_restarts_and_a_lost_one_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOCKBOT_MONGO_URI", raising=False)
    home = tmp_path / "home"
    first = ensure_store(home)
    password = _password(home)
    client = _client(first.uri)
    # a user someone added (or left behind), which must not outlive a re-provisioning
    client.admin.command("createUser", "intruder", pwd="intruder-pass", roles=["root"])
    client.stockbot.kept.insert_one({"_id": "data"})
    client.close()
    stop_store(home)
    again = ensure_store(home)
    assert _password(home) == password and again.uri == first.uri
    stop_store(home)

    (home / "store" / "credentials").unlink()  # lost: the next start makes a new one
    third = ensure_store(home)
    try:
        assert _password(home) != password
        assert third.uri != first.uri
        fresh = _client(third.uri)
        assert fresh.stockbot.kept.find_one({"_id": "data"}) == {"_id": "data"}  # the data stays
        users = {(u["db"], u["user"]) for u in fresh.admin["system.users"].find({})}
        assert users == {("admin", "stockbot")}
        fresh.close()
        port = _port(home)
        for stale_uri in (
            third.uri.replace(_password(home), password),  # the lost password
            f"mongodb://intruder:intruder-pass@127.0.0.1:{port}/?authSource=admin&directConnection=true",
        ):
            stale = _client(stale_uri)
            with pytest.raises(OperationFailure) as err:
                stale.stockbot.kept.find_one({})
            assert err.value.code == AUTHENTICATION_FAILED
            stale.close()
    finally:
        stop_store(home)


def test_an_unauthenticated_server_of_an_earlier_version_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A home whose store was started before authentication existed: its record names a server
    without a credential, which must not go on serving the data."""
    monkeypatch.delenv("STOCKBOT_MONGO_URI", raising=False)
    home = tmp_path / "home"
    ensure_store(home)
    stop_store(home)
    (home / "store" / "credentials").unlink()
    old = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--storage-path",
            str(home / "store" / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        port = None
        while port is None:
            line = old.stdout.readline() if old.stdout else ""
            assert line, "the old-style server did not start"
            if "listening on" in line:
                port = int(line.rsplit(":", 1)[1])
        legacy = f"mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true"
        (home / "store.json").write_text(json.dumps({"uri": legacy, "pid": old.pid, "port": port}))
        info = ensure_store(home)
        assert old.wait(timeout=20) is not None  # ended, not left serving without authentication
        assert info.pid != old.pid and "stockbot:" in info.uri
        anonymous = _client(f"mongodb://127.0.0.1:{_port(home)}/?directConnection=true")
        with pytest.raises(OperationFailure) as err:
            anonymous.stockbot.runs.find_one({})
        assert err.value.code == UNAUTHORIZED
        anonymous.close()
    finally:
        if old.poll() is None:
            old.kill()
            old.wait()
        if old.stdout:
            old.stdout.close()
        stop_store(home)
