"""Monitoring on the platform: exporters, Prometheus and Alertmanager behind nginx, alerts
delivered to the receivers in the container.

In order: what listens where, the metrics really served (node exporter's own, the GPU
collector's from SYNTHETIC NVML answers), the login in front of the web UIs, every target up
and the rules loaded, then a stopped MLflow makes EndpointDown fire and reach the SMTP sink
and the webhook receiver within its ``for:`` window plus the evaluation and scrape intervals
(and Alertmanager's group_wait); MLflow is started again. Bad input last: each fails before
anything changes.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path

import pytest
import yaml
from conftest import Credentials, assert_fails_before_change, container_http

PROMETHEUS = "https://localhost/prometheus"
ALERTMANAGER = "https://localhost/alertmanager"
CA = "/etc/ssl/certs/ca-certificates.crt"
ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
RULES = ROOT / "roles/monitoring_server/files/onprem-mlops.rules.yml"
# EndpointDown's for: (2m) + evaluation (10s) + scrape (10s) + group_wait (5s), and slack for a
# probe that times out (10s) and for the container's two cores under a parallel suite.
ALERT_DEADLINE_S = 120 + 10 + 10 + 5 + 45


def login() -> Credentials:
    path = (
        Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
        / "credentials/onprem-molecule-monitoring/monitoring-web.password"
    )
    return Credentials("monitoring", path.read_text().strip())


def api(host, path: str) -> dict:
    answer = container_http(host, "GET", f"{PROMETHEUS}{path}", auth=login(), cafile=CA)
    assert answer.status == 200, (answer.status, answer.body[:500])
    return answer.json()["data"]


def listeners(host) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for line in host.run("ss -Hltn").stdout.splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        out.setdefault(int(port), set()).add(address)
    return out


def test_exporters_and_servers_listen_on_localhost_only(host):
    ports = listeners(host)
    for port in (9100, 9187, 9090, 9093, 9115):
        assert ports.get(port) == {"127.0.0.1"}, (port, ports.get(port))
    assert 9094 not in ports, "Alertmanager's cluster port listens"


def test_node_exporter_serves_host_and_synthetic_gpu_metrics(host):
    answer = container_http(host, "GET", "http://127.0.0.1:9100/metrics")
    assert answer.status == 200, answer.body[:500]
    metrics = answer.body
    assert re.search(r"^node_uname_info\{", metrics, re.M)
    assert re.search(r"^node_filesystem_avail_bytes\{", metrics, re.M)
    # The GPU collector's textfile, from the healthy-h100 host's SYNTHETIC NVML answers.
    assert re.search(r"^onprem_gpu_nvml_devices 1(\.0)?$", metrics, re.M), metrics[-3000:]
    assert re.search(r'^onprem_gpu_info\{.*name="NVIDIA H100', metrics, re.M)
    ecc = r'^onprem_gpu_ecc_errors_total\{.*counter="volatile".*type="uncorrected"'
    assert re.search(ecc, metrics, re.M)
    assert re.search(r'^onprem_gpu_pcie_link_width\{gpu="0",state="max"\} 16', metrics, re.M)
    assert "node_textfile_scrape_error 0" in metrics


def test_gpu_collector_is_confined(host):
    unit = host.run(
        "systemctl show onprem-gpu-collector"
        " -p ActiveState -p ProtectSystem -p CapabilityBoundingSet"
    )
    assert "ActiveState=active" in unit.stdout
    assert "ProtectSystem=strict" in unit.stdout
    assert "CapabilityBoundingSet=cap_syslog" in unit.stdout


def test_web_uis_require_the_login(host):
    for url in (f"{PROMETHEUS}/api/v1/targets", f"{ALERTMANAGER}/api/v2/status"):
        anonymous = container_http(host, "GET", url, cafile=CA)
        assert anonymous.status == 401, url
        assert "basic" in anonymous.headers.get("www-authenticate", "").lower()
        wrong = container_http(host, "GET", url, auth=Credentials("monitoring", "wrong"), cafile=CA)
        assert wrong.status == 401, url
        right = container_http(host, "GET", url, auth=login(), cafile=CA)
        assert right.status == 200, (url, right.status)


def test_every_target_is_up(host):
    deadline = time.monotonic() + 90
    while True:
        targets = api(host, "/api/v1/targets?state=active")["activeTargets"]
        down = [(t["labels"]["job"], t["labels"]["instance"], t["lastError"])
                for t in targets if t["health"] != "up"]  # fmt: skip
        if not down or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert not down, down
    jobs = {t["labels"]["job"] for t in targets}
    assert jobs == {"prometheus", "alertmanager", "node", "postgres", "blackbox-https"}, jobs
    probes = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "blackbox-https"}
    assert probes == {"https://localhost/health", "https://localhost/serving/ping"}


def test_probes_succeed_and_postgres_is_up(host):
    for query, expected in (('probe_success{job="blackbox-https"}', 2), ("pg_up", 1)):
        deadline = time.monotonic() + 60  # a scrape or two after converge restarted them
        while True:
            result = api(host, f"/api/v1/query?query={query}")["result"]
            ok = len(result) == expected and all(float(r["value"][1]) == 1 for r in result)
            if ok or time.monotonic() > deadline:
                break
            time.sleep(5)
        assert len(result) == expected, (query, result)
        assert all(float(r["value"][1]) == 1 for r in result), (query, result)
    expiry = api(host, "/api/v1/query?query=probe_ssl_earliest_cert_expiry")["result"]
    assert expiry and float(expiry[0]["value"][1]) > time.time() + 21 * 86400


def test_the_platform_rules_are_loaded(host):
    groups = api(host, "/api/v1/rules?type=alert")["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    expected = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    assert loaded == expected
    assert len(expected) == 16


def read_jsonl(host, path: str) -> list[dict]:
    out = host.run(f"cat {path}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_stopped_mlflow_fires_endpoint_down_to_mail_and_webhook(host):
    host.run("truncate -s 0 /var/lib/alert-sink/smtp.jsonl /var/lib/alert-sink/webhook.jsonl")
    assert host.run("systemctl stop mlflow").rc == 0
    started = time.monotonic()
    mail = hook = None
    try:
        while time.monotonic() - started < ALERT_DEADLINE_S and not (mail and hook):
            time.sleep(5)
            hook = hook or next(
                (a for record in read_jsonl(host, "/var/lib/alert-sink/webhook.jsonl")
                 for a in record["body"]["alerts"]
                 if a["labels"]["alertname"] == "EndpointDown" and a["status"] == "firing"),
                None,
            )  # fmt: skip
            mail = mail or next(
                (
                    m
                    for m in read_jsonl(host, "/var/lib/alert-sink/smtp.jsonl")
                    if "EndpointDown" in m["data"]
                ),
                None,
            )
        took = time.monotonic() - started
    finally:
        host.run("systemctl start mlflow")
    assert hook, f"no EndpointDown at the webhook within {ALERT_DEADLINE_S} s"
    assert mail, f"no EndpointDown mail within {ALERT_DEADLINE_S} s"
    assert hook["labels"]["instance"] == "https://localhost/health"
    assert hook["labels"]["severity"] == "critical"
    assert hook["annotations"]["runbook"] == "docs/operations.md#endpointdown"
    assert mail["to"] == ["<ml-team@example.org>"]
    print(f"EndpointDown reached both receivers {took:.0f} s after MLflow stopped")


def test_mlflow_is_back(host):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if container_http(host, "GET", "https://localhost/health", cafile=CA).status == 200:
            return
        time.sleep(3)
    pytest.fail("MLflow did not answer again after the alert test")


def test_secrets_are_protected(host):
    password = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / (
        "credentials/onprem-molecule-monitoring/monitoring-web.password"
    )
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    htpasswd = host.file("/etc/nginx/onprem-mlops-monitoring.htpasswd")
    assert (htpasswd.user, htpasswd.group, htpasswd.mode) == ("root", "www-data", 0o640)
    assert htpasswd.content_string.startswith("monitoring:$6$")
    for path in ("/etc/prometheus/blackbox.yml", "/etc/prometheus/alertmanager.yml"):
        f = host.file(path)
        assert (f.group, f.mode) == ("prometheus", 0o640), path
    log = Path(os.environ["ONPREM_MOLECULE_LOG"]).read_text(errors="replace")
    assert login()[1] not in log


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"monitoring_server_node_targets": [{"name": "ghost", "address": "ghost.invalid:9100"}]},
         r"do not resolve on .*ghost\.invalid:9100"),
        ({"monitoring_server_smtp_require_tls": True},
         r"monitoring_server_smtp_smarthost '127\.0\.0\.1:2525': the relay offers no STARTTLS"),
        ({"monitoring_server_smtp_smarthost": "127.0.0.1:2599"},
         r"monitoring_server_smtp_smarthost '127\.0\.0\.1:2599': unreachable"),
        ({"monitoring_server_alert_email_to": [], "monitoring_server_alert_webhook_urls": []},
         r"alerts must reach someone"),
        ({"monitoring_agent_listen_address": "0.0.0.0"},
         r"monitoring_agent_listen_address must be one IP"),
        ({"monitoring_server_retention_size": "lots"},
         r"monitoring_server_retention_size a size like 10GB"),
    ],
    ids=["unresolvable-target", "smtp-without-tls", "smtp-unreachable", "no-receiver",
         "wildcard-listen", "bad-retention"],
)  # fmt: skip
def test_bad_input_fails_before_any_change(converge_with, extra, expected):
    assert_fails_before_change(converge_with(extra), expected)
