"""The serving follows the alias: removed -> 503 with an explanation (as before any champion
existed), set again -> served again. Last in the run: it moves the alias."""

from platform_api import API, MODEL, SERVING, admin, https, serving_account, wait_for


def test_no_champion_is_reported_clearly_then_the_alias_is_followed(host):
    creds = admin(host)
    alias = https(host, "GET", f"{API}/registered-models/alias?name={MODEL}&alias=champion", creds)
    version = alias.json()["model_version"]["version"]
    removed = https(
        host,
        "DELETE",
        f"{API}/registered-models/alias",
        creds,
        {"name": MODEL, "alias": "champion"},
    )
    assert removed.status == 200, removed.body

    def waiting():
        response = https(
            host, "POST", f"{SERVING}/invocations", serving_account(host), {"inputs": [[0.0]]}
        )
        return response if response.status == 503 else None

    response = wait_for(waiting, 90, "503 without a champion")
    assert "has the alias 'champion' yet" in response.json()["message"]
    assert host.service("model-serving").is_running, "must not crash-loop"
    restarts = host.check_output("systemctl show -p NRestarts --value model-serving")

    body = {"name": MODEL, "alias": "champion", "version": version}
    assert https(host, "POST", f"{API}/registered-models/alias", creds, body).status == 200

    def serving():
        response = https(host, "GET", f"{SERVING}/ping", serving_account(host))
        return response if response.status == 200 else None

    wait_for(serving, 180, "the champion served again")
    assert host.check_output("systemctl show -p NRestarts --value model-serving") == restarts
