"""MLflow comes back by itself: after a kill, and after PostgreSQL restarts under it."""

import time

from mlflow_api import admin, call, wait_healthy


def main_pid(host) -> int:
    return int(host.check_output("systemctl show -p MainPID --value mlflow"))


def test_killed_server_is_restarted_by_systemd(host):
    before = main_pid(host)
    assert before > 0
    host.run_expect([0], f"kill -9 {before}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and main_pid(host) in (0, before):
        time.sleep(1)
    assert main_pid(host) not in (0, before), "systemd did not restart MLflow"
    wait_healthy(host)
    assert call(host, "GET", "experiments/search?max_results=1", auth=admin(host)).status == 200


def test_recovers_from_postgresql_restart_without_manual_step(host):
    creds = admin(host)
    assert call(host, "GET", "experiments/search?max_results=1", auth=creds).status == 200
    host.run_expect([0], "systemctl restart postgresql")
    statuses = []
    for _ in range(30):
        statuses.append(call(host, "GET", "experiments/search?max_results=1", auth=creds).status)
        if statuses[-1] == 200:
            break
        time.sleep(1)
    assert statuses[-1] == 200, statuses
    assert host.service("mlflow").is_running
