"""The whole container restarts (a power cycle): everything comes back without a manual step."""

import subprocess

from platform_api import API, SERVING, admin, https, serving_account, wait_for


def test_everything_comes_back_after_a_container_restart(host):
    subprocess.run(
        ["docker", "restart", "--time", "30", host.backend.get_hostname()], check=True, timeout=120
    )

    def api_up():
        response = https(host, "GET", f"{API}/experiments/search?max_results=1", admin(host))
        return response if response.status == 200 else None

    wait_for(api_up, 240, "MLflow through nginx")

    def serving_up():
        response = https(host, "GET", f"{SERVING}/ping", serving_account(host))
        return response if response.status == 200 else None

    wait_for(serving_up, 240, "the champion served")
    for name in ("postgresql", "mlflow", "nginx", "model-serving"):
        assert host.service(name).is_running, name
