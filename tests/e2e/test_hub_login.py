"""Login through the real NativeAuthenticator forms on JupyterHub 6 (with the compatibility fix in
hub/auth.py), sign-up approval by the admin, tokens, and anonymous refusal."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ADMIN_PASSWORD, Hub, form, login, start_hub

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


@pytest.fixture(scope="module")
def admin(hub: Hub) -> requests.Session:
    """The admin account exists from the first start (STOCKBOT_ADMIN_PASSWORD): no sign-up."""
    s, r = login(hub, "admin", ADMIN_PASSWORD)
    assert r.status_code == 302, (r.status_code, r.text[-1000:], hub.log.read_text()[-2000:])
    return s


def test_admin_logs_in_and_gets_a_token(hub: Hub, admin: requests.Session) -> None:
    xsrf = admin.cookies.get("_xsrf", "")
    r = admin.post(
        f"{hub.url}/hub/api/users/admin/tokens",
        json={"note": "tests"},
        headers={"X-XSRFToken": xsrf, "Referer": f"{hub.url}/hub/token"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    me = requests.get(f"{hub.url}/hub/api/user", headers={"Authorization": f"token {token}"}, timeout=10)
    assert me.status_code == 200 and me.json()["name"] == "admin" and me.json()["admin"] is True


def test_wrong_password_renders_the_form_with_an_error(hub: Hub, admin: requests.Session) -> None:
    _, r = login(hub, "admin", "not the password")
    assert r.status_code == 200 and "Invalid username or password" in r.text


def test_a_locked_account_is_told_so_and_for_how_long(hub: Hub, admin: requests.Session) -> None:
    """NativeAuthenticator locks an account after 5 failed logins for 10 minutes (hub/config.py) and
    then refuses even the right password with "Invalid username or password"."""
    from tests.e2e.conftest import new_user

    password = "lena has a long password 7"
    new_user(hub, admin, "lena", password)
    for attempt in range(1, 5):
        _, r = login(hub, "lena", f"wrong password {attempt}")
        assert r.status_code == 200 and "Invalid username or password" in r.text, attempt
        assert "locked" not in r.text
    _, r = login(hub, "lena", "wrong password 5")  # the fifth failure locks the account
    assert r.status_code == 200 and "This account is locked for 10 more minutes" in r.text, r.text[-2000:]
    _, r = login(hub, "lena", password)  # the right password does not get in while locked
    assert r.status_code == 200, r.status_code
    found = re.search(r"locked for (\d+) more minutes? after (\d+) failed logins", r.text)
    assert found and found.group(1) == "10" and found.group(2) == "5", r.text[-2000:]
    # a name without an account is answered the same way: the lock-out reveals nobody's existence
    for attempt in range(1, 5):
        _, r = login(hub, "nobody-here", f"whatever it is {attempt}")
        assert "Invalid username or password" in r.text and "locked" not in r.text
    _, r = login(hub, "nobody-here", "whatever it is 5")
    assert "This account is locked for 10 more minutes after 5 failed logins" in r.text


def test_sign_up_waits_for_the_admins_approval(hub: Hub, admin: requests.Session) -> None:
    s = requests.Session()
    password = "a long enough pass 7"
    r = form(
        s,
        hub,
        "signup",
        {"username": "bob", "signup_password": password, "signup_password_confirmation": password},
    )
    assert r.status_code == 200
    _, r = login(hub, "bob", password)
    assert r.status_code == 200 and "has not been authorized" in r.text
    assert admin.get(f"{hub.url}/hub/authorize/bob", timeout=10).status_code in (200, 302)
    _, r = login(hub, "bob", password)
    assert r.status_code == 302, r.text[-500:]


def test_anonymous_api_calls_are_refused(hub: Hub) -> None:
    assert requests.get(f"{hub.url}/hub/api/users", timeout=10).status_code in (401, 403)
    r = requests.get(f"{hub.url}/hub/home", timeout=10, allow_redirects=False)
    assert r.status_code == 302 and "/hub/login" in r.headers["Location"]


def test_an_error_during_a_login_post_renders_the_login_form(hub: Hub) -> None:
    """JupyterHub 6 renders such errors through the authenticator's _render(sync=True, ...)."""
    r = requests.post(
        f"{hub.url}/hub/login",
        data={"username": "admin", "password": "x"},
        timeout=10,
        headers={"Sec-Fetch-Mode": "navigate"},
    )  # no _xsrf: refused
    assert r.status_code == 403
    assert "Login form invalid or expired" in r.text and 'name="password"' in r.text
    assert "Traceback" not in hub.log.read_text()


def test_nobody_can_sign_up_as_the_admin(hub: Hub, admin: requests.Session) -> None:
    s = requests.Session()
    form(
        s,
        hub,
        "signup",
        {
            "username": "admin",
            "signup_password": "mallory was here 123",
            "signup_password_confirmation": "mallory was here 123",
        },
    )
    _, r = login(hub, "admin", "mallory was here 123")
    assert r.status_code == 200 and "Invalid username or password" in r.text
    assert ADMIN_PASSWORD not in hub.log.read_text()  # the password is never logged


def test_first_start_prints_a_random_admin_password_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STOCKBOT_ADMIN_PASSWORD", raising=False)
    with start_hub(tmp_path) as first:
        m = re.search(r"user 'admin', password (\S+)", first.log.read_text())
        assert m, first.log.read_text()[-2000:]
        _, r = login(first, "admin", m.group(1))
        assert r.status_code == 302
    first_log = (tmp_path / "hub.log").read_text()
    with start_hub(tmp_path) as again:  # a restart keeps the account and prints nothing
        assert "StockBot admin account created" not in again.log.read_text()
        _, r = login(again, "admin", m.group(1))
        assert r.status_code == 302
    assert first_log.count("StockBot admin account created") == 1


def test_a_user_server_starts_with_the_project_notebooks(hub: Hub, admin: requests.Session) -> None:
    xsrf = admin.cookies.get("_xsrf", "")
    headers = {"X-XSRFToken": xsrf, "Referer": f"{hub.url}/hub/token"}
    token = admin.post(
        f"{hub.url}/hub/api/users/admin/tokens", json={"note": "spawn"}, headers=headers, timeout=10
    ).json()["token"]
    auth = {"Authorization": f"token {token}"}
    r = requests.post(f"{hub.url}/hub/api/users/admin/server", headers=auth, timeout=60)
    assert r.status_code in (201, 202), r.text
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        user = requests.get(f"{hub.url}/hub/api/users/admin", headers=auth, timeout=10).json()
        if user["servers"].get("", {}).get("ready"):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the server never became ready:\n{hub.log.read_text()[-3000:]}")
    status = requests.get(f"{hub.url}/user/admin/api/status", headers=auth, timeout=10)
    assert status.status_code == 200, status.text
    notebooks = sorted(p.name for p in (hub.home / "users" / "admin" / "notebooks").iterdir())
    assert notebooks == ["backtest.ipynb", "hmm_fit.ipynb", "hmm_infer.ipynb", "train.ipynb"]
    stop = requests.delete(f"{hub.url}/hub/api/users/admin/server", headers=auth, timeout=60)
    assert stop.status_code in (202, 204)
