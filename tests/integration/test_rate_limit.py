"""Rate limits per API key over HTTP: a key past its allowance gets 429 with when to retry; other keys do not."""

from __future__ import annotations

import httpx

from tests.integration.harness import ClickplaneServer


def requests_until_refused(client: httpx.Client, path: str, most: int) -> tuple[int, httpx.Response]:
    """How many requests passed before the first refusal, and the refusal."""
    for passed in range(most):
        response = client.get(path)
        if response.status_code != 200:
            return passed, response
    raise AssertionError(f"{most} requests passed; expected a 429 before")


def test_a_key_past_its_limit_is_refused_while_another_organizations_key_is_not(
        fresh_server: ClickplaneServer) -> None:
    # A long period: the allowance does not measurably refill while the test runs.
    fresh_server.settings.update({"CLICKPLANE_RATE_LIMIT_REQUESTS": "5",
                                  "CLICKPLANE_RATE_LIMIT_PERIOD_SECONDS": "600"})
    fresh_server.start()
    other = fresh_server.create_organization("neighbours")
    with fresh_server.client() as ours, fresh_server.client(other) as theirs:
        passed, refused = requests_until_refused(ours, fresh_server.org_path(), most=20)
        assert passed == 5
        assert refused.status_code == 429
        body = refused.json()
        assert body["status"] == 429
        assert body["error"].startswith("TOO_MANY_REQUESTS: this API key has made more than 5 requests in 600 "
                                        "seconds; retry in ")
        assert 110 <= int(refused.headers["Retry-After"]) <= 120
        assert int(refused.headers["Retry-After"]) < int(refused.headers["X-RateLimit-Reset"]) <= 600
        # Every authenticated operation counts, whatever it is.
        assert ours.get(fresh_server.org_path("/services")).status_code == 429
        their_path = f"/v1/organizations/{other.organization_id}"
        assert [theirs.get(their_path).status_code for _ in range(5)] == [200] * 5
        # The OpenAPI document needs no key, so no limit applies to it.
        assert httpx.get(f"{fresh_server.base_url}/v1").status_code == 200


def test_cloud_limits_apply_clickhouse_clouds_ten_requests_per_ten_seconds(fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_RATE_LIMIT_REQUESTS"] = "1000"  # --cloud-limits takes precedence
    fresh_server.start("--cloud-limits")
    with fresh_server.client() as client:
        # One request comes back each second, so a slow machine may fit a few more in before the refusal.
        passed, refused = requests_until_refused(client, fresh_server.org_path(), most=100)
    assert 10 <= passed < 20
    assert refused.status_code == 429
    assert "more than 10 requests in 10 seconds" in refused.json()["error"]
