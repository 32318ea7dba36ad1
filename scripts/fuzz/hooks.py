"""Schemathesis hooks for the shop API: how the fuzzer signs in.

Every request is sent as the seeded admin, so the admin operations are
exercised for real rather than refused with 403. DELETE /api/v1/users/me is
the exception: it deletes the account that sends it, so each such request is
sent as a customer registered for it alone (the admin must outlive the run).
"""

import os
import uuid

import requests
import schemathesis

API = os.environ["SHOP_FUZZ_API"]  # the gateway's base URL
ADMIN = {
    "email": os.environ["SHOP_FUZZ_ADMIN_EMAIL"],
    "password": os.environ["SHOP_FUZZ_ADMIN_PASSWORD"],
}


def _login(credentials):
    response = requests.post(f"{API}/api/v1/auth/login", json=credentials, timeout=30)
    response.raise_for_status()
    return response.json()["accessToken"]


def _throwaway_customer():
    credentials = {"email": f"fuzz-{uuid.uuid4()}@example.com", "password": "fuzz-password"}
    registered = requests.post(
        f"{API}/api/v1/auth/register", json={**credentials, "name": "Fuzz"}, timeout=30
    )
    registered.raise_for_status()
    return _login(credentials)


@schemathesis.auth(refresh_interval=120)
class ShopAuth:
    def get(self, case, ctx):
        return _login(ADMIN)

    def set(self, case, data, ctx):
        token = data
        if case.method.upper() == "DELETE" and case.path == "/api/v1/users/me":
            token = _throwaway_customer()
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {token}"
