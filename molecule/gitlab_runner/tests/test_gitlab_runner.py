"""Role gitlab_runner against the GitLab mock (files/gitlab_mock.py).

Converge registered the host with the glrt- token of a runner "created in GitLab's UI"
(prepare seeded the mock with it). The tests then read config.toml and the mock's record of
what the role asked, refuse bad input before any change, and walk through the other flows
in order: the deprecated registration token, creation through the API with tags, and
state absent. What they do not exercise: the real gitlab-runner binary and GitLab's package
repository (unreachable here); the package is a stand-in .deb (prepare.yml).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import testinfra
from conftest import assert_fails_before_change, container_http

RUNNER = testinfra.get_host("docker://onprem-molecule-gitlab_runner")
MOCK = testinfra.get_host("docker://onprem-molecule-gitlab-mock")
SCENARIO = Path(__file__).resolve().parents[1]
MATERIAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "gitlab"
CONFIG = "/etc/gitlab-runner/config.toml"
STATE = "/etc/gitlab-runner/onprem-runner.json"
SYSTEM_ID = "/etc/gitlab-runner/.runner_system_id"
NAME = "onprem-molecule-gitlab_runner"


def token(name: str) -> str:
    return (MATERIAL / f"{name}.token").read_text().strip()


def mock_state() -> dict:
    answer = container_http(MOCK, "GET", "http://127.0.0.1/mock/state")
    assert answer.status == 200, answer.body
    return answer.json()


def runners_by(created_by: str) -> list[dict]:
    return [r for r in mock_state()["runners"] if r["created_by"] == created_by]


def config_text() -> str:
    return RUNNER.file(CONFIG).content_string


def system_id() -> str:
    return RUNNER.file(SYSTEM_ID).content_string.strip()


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, "a token was printed"


# ------------------------------------------------------------------ the converged runner


def test_config_toml_is_the_expected_one_but_for_the_token():
    actual = config_text()
    assert f'token = "{token("ui-runner")}"' in actual
    masked = re.sub(r'(?m)^  token = ".*"$', '  token = "<TOKEN>"', actual)
    masked = re.sub(r"(?m)^  id = \d+$", "  id = <ID>", masked)
    assert masked == (SCENARIO / "expected-config.toml").read_text()


def test_the_runner_id_is_the_one_gitlab_gave():
    ui_runner = runners_by("ui")[0]
    assert f"\n  id = {ui_runner['id']}\n" in config_text()
    assert json.loads(RUNNER.file(STATE).content_string)["id"] == ui_runner["id"]


def test_token_files_are_root_only():
    assert RUNNER.file("/etc/gitlab-runner").mode == 0o700
    for path in (CONFIG, STATE, SYSTEM_ID):
        f = RUNNER.file(path)
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600), path
    assert re.fullmatch(r"s_[0-9a-f]{12}", system_id())


def test_gitlab_knows_this_host_as_a_manager_of_the_ui_runner_and_nothing_more():
    state = mock_state()
    assert [(r["created_by"], r["managers"]) for r in state["runners"]] == [("ui", [system_id()])]
    calls = {(r["method"], r["path"]) for r in state["requests"]}
    # Converge and the idempotence run verified the token; neither created nor deleted a runner.
    assert ("POST", "/api/v4/runners/verify") in calls
    assert not calls & {
        ("POST", "/api/v4/user/runners"),
        ("POST", "/api/v4/runners"),
        ("DELETE", "/api/v4/runners"),
        ("DELETE", "/api/v4/runners/managers"),
    }
    verifies = [r for r in state["requests"] if r["path"] == "/api/v4/runners/verify"]
    assert len(verifies) >= 2 and {r["system_id"] for r in verifies} == {system_id()}


def test_the_service_runs_the_installed_package_on_this_config():
    assert RUNNER.service("gitlab-runner").is_running
    assert RUNNER.service("gitlab-runner").is_enabled
    assert "0.0.0~standin" in RUNNER.check_output("gitlab-runner --version")
    journal = RUNNER.check_output("journalctl -u gitlab-runner --no-pager -o cat")
    assert "stand-in: 1 runner(s), concurrent=2" in journal


def test_the_job_account_uses_the_ml_venv_and_reads_but_does_not_write_data():
    user = RUNNER.user("gitlab-runner")
    assert set(user.groups) == {"gitlab-runner", "mlops-readers"}
    as_job = "runuser -u gitlab-runner -- "
    assert RUNNER.run(as_job + "/opt/onprem-mlops/venv/bin/onprem-mlops pipeline --help").rc == 0
    assert RUNNER.run(as_job + "ls /srv/mlops/raw").rc == 0
    denied = RUNNER.run(as_job + "touch /srv/mlops/raw/written-by-a-ci-job")
    assert denied.rc != 0 and "Permission denied" in denied.stderr
    assert RUNNER.run(as_job + f"cat {CONFIG}").rc != 0
    assert "sudo" not in user.groups


def test_no_token_in_the_molecule_output():
    log = Path(os.environ["ONPREM_MOLECULE_LOG"]).read_text()
    assert "Verify the runner's token with GitLab" in log  # the log is the one of this run
    assert_no_secret(log, token("ui-runner"), token("personal-access"), token("registration"))


def test_check_mode_of_gitlabs_repository_changes_nothing(converge_with):
    run = converge_with(
        {
            "gitlab_runner_install_method": "repository",
            "gitlab_runner_repository_url": "http://gitlab-mock/runner/gitlab-runner/debian/",
            "gitlab_runner_repository_key_url": "http://gitlab-mock/runner/gitlab-runner/gpgkey",
        },
        "--check",
    )
    assert run.returncode == 0, run.output[-3000:]
    assert "would be installed from it after the repository is added" in run.output
    assert not RUNNER.file("/etc/apt/sources.list.d/gitlab-runner.list").exists
    assert not RUNNER.file("/etc/apt/keyrings/gitlab-runner.asc").exists
    assert RUNNER.package("gitlab-runner").version == "0.0.0~standin"


# ------------------------------------------------------------------ bad input, before changes


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({"gitlab_runner_token": "glpat-notarunnertoken123456"},
         r"gitlab_runner_token does not have the form of a runner authentication token \(glrt-"),
        ({"gitlab_runner_extra_tags": ["gpu"]},
         r"gitlab_runner_extra_tags: 'gpu' is a GPU tag, but the phase-1 assessment of this host "
         r"shows no GPU"),
        ({"gitlab_runner_extra_tags": ["cuda-12.4"]}, r"'cuda-12.4' is a GPU tag"),
        ({"gitlab_runner_api_token": "glpat-abcdefghijklmnopqrst"},
         r"set exactly one of gitlab_runner_token .* set: gitlab_runner_token, "
         r"gitlab_runner_api_token"),
        ({"gitlab_runner_token": "",
          "gitlab_runner_registration_token": "GR1348941abcdefghijklmnop"},
         r"gitlab_runner_registration_token uses GitLab's deprecated registration flow"),
        ({"gitlab_runner_environment": ["MLFLOW_TRACKING_PASSWORD=hunter2hunter2"]},
         r"gitlab_runner_environment: 'MLFLOW_TRACKING_PASSWORD' must be NAME=value and no secret"),
        ({"gitlab_runner_groups": ["mlops-readers", "no-such-group"]},
         r"gitlab_runner_groups: no-such-group do not exist"),
        ({"gitlab_runner_url": "http://gitlab-mock"}, r"gitlab_runner_url must be the https://"),
        ({"gitlab_runner_venv": "/opt/nothing-here"},
         r"gitlab_runner_venv: /opt/nothing-here has no bin/python"),
    ],
    ids=["token-form", "gpu-tag", "cuda-tag", "two-flows", "registration-token", "secret-env",
         "missing-group", "plain-http", "no-venv"],
)  # fmt: skip
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    before = config_text()
    run = converge_with(extra_vars)
    assert_fails_before_change(run, expected)
    assert config_text() == before
    assert_no_secret(run.output, token("ui-runner"))


def test_a_token_gitlab_refuses_stops_before_config_changes(converge_with):
    before = config_text()
    run = converge_with({"gitlab_runner_token": "glrt-deletedinthegitlabui123"})
    assert_fails_before_change(
        run, r"gitlab_runner_token was refused by GitLab at https://gitlab-mock \(403"
    )
    assert config_text() == before
    assert "glrt-deletedinthegitlabui123" not in run.output


# ------------------------------------------------------------------ the other flows, in order


def test_the_deprecated_flow_registers_once_with_a_warning(converge_with):
    flow = {
        "gitlab_runner_token": "",
        "gitlab_runner_registration_token": token("registration"),
        "gitlab_runner_allow_registration_token": True,
    }
    run = converge_with(flow)
    assert run.returncode == 0, run.output[-3000:]
    assert (
        "[WARNING] gitlab_runner: registering with a registration token (deprecated" in run.output
    )
    registered = runners_by("registration_token")
    assert len(registered) == 1
    assert (registered[0]["description"], registered[0]["tag_list"]) == (NAME, "onprem-mlops")
    assert f'token = "{registered[0]["token"]}"' in config_text()
    # The runner it replaces was created in GitLab: only this host's manager goes.
    assert runners_by("ui")[0]["managers"] == []
    again = converge_with(flow)
    assert again.returncode == 0 and again.recap["changed"] == 0, again.output[-3000:]
    assert len(runners_by("registration_token")) == 1
    assert_no_secret(run.output + again.output, token("registration"), registered[0]["token"])


def test_the_api_creates_the_runner_once_with_the_hosts_tags(converge_with):
    flow = {
        "gitlab_runner_token": "",
        "gitlab_runner_api_token": token("personal-access"),
        "gitlab_runner_extra_tags": ["nightly"],
    }
    run = converge_with(flow)
    assert run.returncode == 0, run.output[-3000:]
    created = runners_by("api")
    assert len(created) == 1
    runner = created[0]
    # No GPU in the container: the assessment adds no gpu tags.
    seen = (
        runner["description"],
        runner["tag_list"],
        runner["runner_type"],
        runner["run_untagged"],
    )
    assert seen == (NAME, "onprem-mlops,nightly", "instance_type", False)
    assert runner["managers"] == [system_id()]
    # The role created the registration-token runner: it deletes it in GitLab.
    assert runners_by("registration_token") == []
    assert f'token = "{runner["token"]}"' in config_text()
    again = converge_with(flow)
    assert again.returncode == 0 and again.recap["changed"] == 0, again.output[-3000:]
    assert [r["id"] for r in runners_by("api")] == [runner["id"]]
    assert_no_secret(run.output + again.output, token("personal-access"), runner["token"])


def test_state_absent_unregisters_and_stops_the_runner(converge_with):
    api_runner = runners_by("api")[0]
    run = converge_with({"gitlab_runner_state": "absent"})
    assert run.returncode == 0, run.output[-3000:]
    assert all(r["id"] != api_runner["id"] for r in mock_state()["runners"])
    assert not RUNNER.file(CONFIG).exists and not RUNNER.file(STATE).exists
    assert not RUNNER.service("gitlab-runner").is_running
    assert runners_by("ui"), "a runner created in GitLab is never deleted by the role"
    again = converge_with({"gitlab_runner_state": "absent"})
    assert again.returncode == 0 and again.recap["changed"] == 0, again.output[-3000:]
