"""``onprem-mlops vault create|rotate|check`` with real ansible-vault encryption."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from onprem_mlops.cli import main
from onprem_mlops.vault import store
from onprem_mlops.vault.spec import WEAK_RE, load_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example"
SPEC = load_spec()
GENERATED = [v.name for v in SPEC.generated]
MANUAL = [v.name for v in SPEC.variables if not v.generated]


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A copy of the example inventory's hosts and placeholder vault; password file unset."""
    inventory = tmp_path / "mysite"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    shutil.copy(EXAMPLE / "hosts.yml", inventory / "hosts.yml")
    shutil.copy(EXAMPLE / "group_vars/all/vault.yml", inventory / "group_vars/all/vault.yml")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(store.PASSWORD_ENV, raising=False)
    return inventory


class Run:
    """Runs the CLI and remembers every output, to prove no secret value ever appears."""

    def __init__(self, capsys):
        self.capsys = capsys
        self.outputs: list[str] = []

    def __call__(self, *argv):
        status = main(["vault", *map(str, argv)])
        out, err = self.capsys.readouterr()
        self.outputs.append(out + err)
        return status, out, err

    def assert_never_printed(self, values):
        for value in values:
            assert len(value) >= 12
            assert all(value not in text for text in self.outputs)


@pytest.fixture
def run(capsys):
    return Run(capsys)


def vault_of(inventory):
    return inventory / "group_vars" / "all" / "vault.yml"


def default_password_file(inventory):
    return Path(os.environ["HOME"]) / ".onprem-mlops" / "vault-pass"


def decrypt(inventory, password_file):
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(password_file.read_bytes().strip())
    plain = VaultLib([("default", secret)]).decrypt(vault_of(inventory).read_bytes())
    return yaml.safe_load(bytes(plain).decode()), bytes(plain).decode()


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def secret_values(variables):
    return [variables[name] for name in GENERATED]


def test_spec_names_the_variables_of_the_example_vault():
    example = yaml.safe_load((EXAMPLE / "group_vars/all/vault.yml").read_text())
    assert SPEC.names == list(example)


def test_spec_kinds_and_phases():
    by_name = {v.name: v for v in SPEC.variables}
    key = by_name["vault_mlflow_flask_secret_key"]
    assert (key.kind, key.length, key.min_length) == ("hex", 64, 32)
    assert by_name["vault_proxy_url"].kind == "manual"
    assert by_name["vault_postgresql_mlflow_password"].phases == (4,)
    assert by_name["vault_model_serving_password"].phases == (5,)
    for var in SPEC.generated:
        assert 12 <= var.min_length <= var.length
        assert var.description


def test_help_lists_vault(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "vault" in capsys.readouterr().out


def test_create_writes_an_encrypted_vault_ansible_vault_reads(site, run, tmp_path):
    password = default_password_file(site)
    status, out, _ = run("create", "--inventory", site)
    assert status == 0
    assert "vault_postgresql_mlflow_password" in out
    assert str(password) in out

    data = vault_of(site).read_bytes()
    assert data.startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    assert mode(vault_of(site)) == 0o600
    assert mode(password) == 0o600
    assert mode(password.parent) == 0o700
    assert not [p for p in vault_of(site).parent.iterdir() if p.name.endswith(".tmp")]

    variables, text = decrypt(site, password)
    assert text.startswith("# onprem-mlops vault:")
    assert list(variables) == SPEC.names
    for var in SPEC.variables:
        value = variables[var.name]
        if var.kind == "manual":
            assert value == ""
        else:
            assert isinstance(value, str)
            assert len(value) == var.length >= var.min_length
            assert not WEAK_RE.search(value)
        if var.kind == "hex":
            assert len(value) == var.length
            int(value, 16)
        if var.kind == "password":
            assert all(c.isalnum() or c in "-_" for c in value)
    run.assert_never_printed(secret_values(variables))

    ansible_vault = Path(sys.executable).with_name("ansible-vault")
    view = subprocess.run(
        [ansible_vault, "view", "--vault-password-file", password, vault_of(site)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")},
    )
    assert yaml.safe_load(view.stdout) == variables


def test_password_file_from_option_and_environment(site, run, tmp_path, monkeypatch):
    from_env = tmp_path / "env" / "pass"
    monkeypatch.setenv(store.PASSWORD_ENV, str(from_env))
    assert run("create", "--inventory", site)[0] == 0
    assert mode(from_env) == 0o600
    assert mode(from_env.parent) == 0o700
    assert not default_password_file(site).exists()
    assert run("check", "--inventory", site)[0] == 0

    # An existing password file is used as it is; a loose mode is reported, not changed.
    given = tmp_path / "given-pass"
    given.write_text("an admin's own vault password\n")
    given.chmod(0o644)
    status, _, err = run("create", "--inventory", site, "--vault-password-file", given, "--force")
    assert status == 0
    assert "chmod 600" in err
    assert given.read_text() == "an admin's own vault password\n"
    variables, _ = decrypt(site, given)
    run.assert_never_printed(secret_values(variables))


def test_create_refuses_to_overwrite_and_force_keeps_manual_values(site, run):
    vault = vault_of(site)
    real = "vault_proxy_url: http://user:pw-0123456789@proxy:3128\nvault_x: kept-value-123456\n"
    vault.write_text(real)
    status, _, err = run("create", "--inventory", site)
    assert status == 1
    assert str(vault) in err
    assert "vault_proxy_url" in err
    assert "--force" in err
    assert "pw-0123456789" not in err
    assert vault.read_text() == real

    assert run("create", "--inventory", site, "--force")[0] == 0
    first = vault.read_bytes()
    variables, _ = decrypt(site, default_password_file(site))
    assert variables["vault_proxy_url"] == "http://user:pw-0123456789@proxy:3128"
    assert variables["vault_x"] == "kept-value-123456"

    status, _, err = run("create", "--inventory", site)
    assert status == 1
    assert f"{vault} is already encrypted" in err
    assert vault.read_bytes() == first

    assert run("create", "--inventory", site, "--force")[0] == 0
    again, _ = decrypt(site, default_password_file(site))
    assert again["vault_proxy_url"] == variables["vault_proxy_url"]
    assert all(again[n] != variables[n] for n in GENERATED)
    run.assert_never_printed(secret_values(variables) + secret_values(again))


def test_create_usage_errors(tmp_path, run):
    status, _, err = run("create", "--inventory", tmp_path / "missing")
    assert status == 2
    assert "no such inventory directory" in err
    with pytest.raises(SystemExit) as exc:
        run("create")
    assert exc.value.code == 2


def test_rotate_changes_only_the_named_secrets(site, run):
    password = default_password_file(site)
    assert run("create", "--inventory", site)[0] == 0
    before, _ = decrypt(site, password)

    status, out, _ = run("rotate", "--inventory", site, "vault_model_serving_password")
    assert status == 0
    after, text = decrypt(site, password)
    assert after["vault_model_serving_password"] != before["vault_model_serving_password"]
    assert len(after["vault_model_serving_password"]) == 32
    assert {k: v for k, v in after.items() if k != "vault_model_serving_password"} == {
        k: v for k, v in before.items() if k != "vault_model_serving_password"
    }
    assert text.startswith("# onprem-mlops vault:")
    assert mode(vault_of(site)) == 0o600
    assert vault_of(site).read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    assert "vault_model_serving_password" in out
    assert "playbooks/phase5_models.yml" in out
    assert "phase4_data.yml" not in out

    status, out, _ = run("rotate", "--inventory", site)
    assert status == 0
    final, _ = decrypt(site, password)
    assert all(final[n] != after[n] for n in GENERATED)
    assert final["vault_proxy_url"] == ""
    assert all(name in out for name in GENERATED)
    assert out.index("phase4_data.yml") < out.index("phase5_models.yml")
    assert not [p for p in vault_of(site).parent.iterdir() if p.name.endswith(".tmp")]
    run.assert_never_printed(secret_values(before) + secret_values(after) + secret_values(final))


def test_rotate_refuses_unknown_manual_and_unencrypted(site, run):
    original = vault_of(site).read_bytes()
    status, _, err = run("rotate", "--inventory", site, "vault_nope")
    assert status == 2
    assert "vault_nope" in err
    assert all(name in err for name in GENERATED)

    status, _, err = run("rotate", "--inventory", site, "vault_proxy_url")
    assert status == 2
    assert "vault_proxy_url is not generated" in err
    assert "ansible-vault edit" in err

    status, _, err = run("rotate", "--inventory", site)
    assert status == 1
    assert f"{vault_of(site)} is not encrypted" in err
    assert vault_of(site).read_bytes() == original


def test_rotate_keeps_comments_and_other_variables_of_an_edited_vault(site, run, tmp_path):
    password = tmp_path / "pass"
    password.write_text("edited-vault-password\n")
    secret = store.load_secret(password)
    text = (
        "---\n# admin's note\nvault_proxy_url: http://proxy:3128\n"
        "vault_postgresql_mlflow_password: old-db-password-1\n\n# serving\n"
        "vault_model_serving_password: |\n  old-serving-password\n  second line\n"
        "ansible_become_password: become-pass-123\n"
    )
    vault_of(site).write_bytes(store.encrypt(text, secret))
    status, _, _ = run(
        "rotate",
        "--inventory",
        site,
        "--vault-password-file",
        password,
        "vault_model_serving_password",
        "vault_postgresql_mlflow_password",
    )
    assert status == 0
    variables, new_text = decrypt(site, password)
    assert "# admin's note\n" in new_text
    assert "\n\n# serving\n" in new_text
    assert variables["vault_proxy_url"] == "http://proxy:3128"
    assert variables["ansible_become_password"] == "become-pass-123"
    assert "old-" not in new_text
    assert list(variables) == [
        "vault_proxy_url",
        "vault_postgresql_mlflow_password",
        "vault_model_serving_password",
        "ansible_become_password",
    ]
    rotated = ["vault_model_serving_password", "vault_postgresql_mlflow_password"]
    run.assert_never_printed([variables[name] for name in rotated])


def test_replace_values_falls_back_to_a_full_rewrite():
    text = '"vault_a": old\nvault_b: &anchor keep\n'
    variables = yaml.safe_load(text)
    result = store.replace_values(text, variables, {"vault_a": "new"})
    assert yaml.safe_load(result) == {"vault_a": "new", "vault_b": "keep"}
    assert result.count("vault_a") == 1


def test_a_failed_write_leaves_the_vault_as_it_was(site, run, monkeypatch):
    assert run("create", "--inventory", site)[0] == 0
    before = vault_of(site).read_bytes()

    def fail(self, target):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(OSError):
        run("rotate", "--inventory", site)
    assert vault_of(site).read_bytes() == before
    assert sorted(p.name for p in vault_of(site).parent.iterdir()) == ["vault.yml"]


def test_check_passes_on_a_fresh_vault_and_names_the_problems(site, run):
    password = default_password_file(site)
    status, out, _ = run("check", "--inventory", site)
    assert status == 1
    assert "not encrypted" in out
    assert all(f"{name}: placeholder value" in out for name in GENERATED)

    assert run("create", "--inventory", site)[0] == 0
    status, out, _ = run("check", "--inventory", site)
    assert status == 0
    assert "ok" in out
    variables, _ = decrypt(site, password)

    weak = {
        **variables,
        "vault_mlflow_flask_secret_key": "0123456789abcdef",
        "vault_proxy_url": "CHANGE-ME-IN-ANSIBLE-VAULT",
    }
    del weak["vault_model_serving_password"]
    vault_of(site).write_bytes(store.encrypt(store.render(weak), store.load_secret(password)))
    status, out, _ = run("check", "--inventory", site)
    assert status == 1
    assert "vault_mlflow_flask_secret_key: shorter than 32 characters" in out
    assert "vault_model_serving_password: missing or empty" in out
    assert "vault_proxy_url: placeholder value" in out
    assert "vault_postgresql_mlflow_password" not in out
    assert "not encrypted" not in out

    vault_of(site).write_text(store.render(variables))
    status, out, _ = run("check", "--inventory", site)
    assert status == 1
    assert f"{vault_of(site)}: not encrypted" in out
    run.assert_never_printed(secret_values(variables))


def test_check_usage_errors(site, run, tmp_path):
    assert run("create", "--inventory", site)[0] == 0
    wrong = tmp_path / "wrong-pass"
    wrong.write_text("not the vault password\n")
    status, _, err = run("check", "--inventory", site, "--vault-password-file", wrong)
    assert status == 2
    assert f"cannot decrypt it with the vault password in {wrong}" in err
    status, _, err = run("check", "--inventory", site, "--vault-password-file", tmp_path / "none")
    assert status == 2
    assert "does not exist" in err
    vault_of(site).unlink()
    status, out, _ = run("check", "--inventory", site)
    assert status == 1
    assert "does not exist" in out
