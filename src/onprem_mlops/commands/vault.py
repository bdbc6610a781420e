"""``onprem-mlops vault``: create, rotate and check the site's ansible-vault.

The vault is ``<inventory>/group_vars/all/vault.yml``; its variables, how each is generated
and which phases read it come from ``data/vault-spec.yml``. Values are never printed: the
output names variables, files and playbooks only.

Exit status: 0 ok; 1 problems found (check) or refused (an existing vault, a file that is not
encrypted); 2 usage errors (unknown variable, missing inventory or password file, wrong
vault password).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from onprem_mlops.commands.phases import ALL_PHASES
from onprem_mlops.vault import store
from onprem_mlops.vault.spec import PLACEHOLDER_RE, SpecError, VaultSpec, is_blank, load_spec
from onprem_mlops.vault.store import VaultCommandError


def _inventory(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_dir():
        raise VaultCommandError(f"--inventory {value}: no such inventory directory")
    return path


def _password_file(args: argparse.Namespace) -> Path:
    if args.vault_password_file:
        return Path(args.vault_password_file).expanduser()
    return store.default_password_file()


def _warn_permissions(path: Path) -> None:
    warning = store.loose_permissions(path)
    if warning:
        print(warning, file=sys.stderr)


def _rerun_lines(spec: VaultSpec, names: list[str], inventory: Path, password: Path) -> list[str]:
    """The playbooks that read ``names``, in rollout order, as commands to run."""
    phases = sorted({p for v in spec.variables if v.name in names for p in v.phases})
    hosts = inventory / "hosts.yml"
    target = hosts if hosts.is_file() else inventory
    return [
        f"  ansible-playbook -i {target} playbooks/{ALL_PHASES[p].playbook} "
        f"--vault-password-file {password}"
        for p in phases
    ]


def _existing_variables(
    vault_path: Path, force: bool, password: Path
) -> tuple[dict[str, Any], bool]:
    """Variables of the vault ``create`` replaces, and whether it held real values.

    Refuses (status 1) unless the file holds only placeholders or ``force`` is given.
    """
    if not vault_path.exists():
        return {}, False
    if not vault_path.is_file():
        raise VaultCommandError(f"{vault_path}: not a file")
    data = vault_path.read_bytes()
    if store.is_encrypted(data):
        if not force:
            raise VaultCommandError(
                f"{vault_path} is already encrypted: not overwritten. `onprem-mlops vault "
                "rotate` regenerates its secrets, `ansible-vault edit` changes it; --force "
                "replaces it (keeping its manual and extra variables when the vault password "
                "opens it)",
                status=1,
            )
        if not password.exists():
            return {}, True
        try:
            secret = store.load_secret(password)
            return store.decrypt(data, vault_path, secret, password).variables, True
        except VaultCommandError:
            print(
                f"warning: {vault_path} cannot be opened with {password}: its manual and "
                "extra variables are not kept",
                file=sys.stderr,
            )
            return {}, True
    try:
        variables = store.parse_variables(data.decode("utf-8", errors="replace"), vault_path)
    except VaultCommandError:
        if not force:
            raise VaultCommandError(
                f"{vault_path} is not a YAML mapping of variables: not overwritten (--force "
                "replaces it)",
                status=1,
            ) from None
        return {}, True
    real = [name for name, value in variables.items() if not is_blank(value)]
    if real and not force:
        raise VaultCommandError(
            f"{vault_path} holds values that are not placeholders ({', '.join(real)}): not "
            "overwritten. Encrypt it with `ansible-vault encrypt`, or --force replaces it "
            "(keeping its manual and extra variables)",
            status=1,
        )
    return variables, bool(real)


def _create(args: argparse.Namespace, spec: VaultSpec) -> int:
    inventory = _inventory(args.inventory)
    vault_path = inventory / store.VAULT_RELPATH
    password = _password_file(args)
    existing, replaced_real = _existing_variables(vault_path, args.force, password)

    created_password = False
    if not password.exists():
        store.create_password_file(password)
        created_password = True
    else:
        _warn_permissions(password)
    secret = store.load_secret(password)

    variables: dict[str, Any] = {}
    kept: list[str] = []
    empty: list[str] = []
    for var in spec.variables:
        if var.generated:
            variables[var.name] = var.generate()
        elif not is_blank(existing.get(var.name)):
            variables[var.name] = existing[var.name]
            kept.append(var.name)
        else:
            variables[var.name] = ""
            empty.append(var.name)
    extra = [name for name in existing if name not in variables]
    variables.update({name: existing[name] for name in extra})

    vault_path.parent.mkdir(parents=True, exist_ok=True)
    store.atomic_write(vault_path, store.encrypt(store.render(variables), secret))

    if created_password:
        print(
            f"created the vault password file {password} (mode 0600): back it up and keep it "
            "out of the repository; without it the vault cannot be opened"
        )
    print(f"wrote {vault_path} (ansible-vault encrypted, mode 0600)")
    generated = [v.name for v in spec.generated]
    print(f"  generated: {', '.join(generated)}")
    if kept or extra:
        print(f"  kept: {', '.join(kept + extra)}")
    if empty:
        print(
            f"  empty, fill in when needed with `ansible-vault edit --vault-password-file "
            f"{password} {vault_path}`: {', '.join(empty)}"
        )
    if replaced_real:
        print("the new secrets replace earlier values: run again, in this order:")
        print("\n".join(_rerun_lines(spec, generated, inventory, password)))
    else:
        print(
            f"run the playbooks with --vault-password-file {password} "
            f"(or set {store.PASSWORD_ENV}={password})"
        )
    return 0


def _rotate(args: argparse.Namespace, spec: VaultSpec) -> int:
    allowed = [v.name for v in spec.generated]
    names = list(dict.fromkeys(args.names)) or allowed
    for name in names:
        var = spec.get(name)
        if var is None:
            raise VaultCommandError(f"unknown vault variable {name}; allowed: {', '.join(allowed)}")
        if not var.generated:
            raise VaultCommandError(
                f"{name} is not generated (kind {var.kind}) and cannot be rotated: change it "
                f"with `ansible-vault edit`; rotatable: {', '.join(allowed)}"
            )
    inventory = _inventory(args.inventory)
    vault_path = inventory / store.VAULT_RELPATH
    password = _password_file(args)
    if not vault_path.is_file():
        raise VaultCommandError(
            f"{vault_path} does not exist: nothing to rotate (onprem-mlops vault create "
            f"--inventory {args.inventory})",
            status=1,
        )
    data = vault_path.read_bytes()
    if not store.is_encrypted(data):
        raise VaultCommandError(
            f"{vault_path} is not encrypted: not rotated. Encrypt it first (`ansible-vault "
            "encrypt`), or `onprem-mlops vault create --force` replaces it",
            status=1,
        )
    _warn_permissions(password)
    secret = store.load_secret(password)
    plain = store.decrypt(data, vault_path, secret, password)
    updates = {v.name: v.generate() for v in spec.generated if v.name in names}
    text = store.replace_values(plain.text, plain.variables, updates)
    store.atomic_write(vault_path, store.encrypt(text, secret, plain.vault_id))

    print(f"rotated in {vault_path}: {', '.join(names)}")
    print("run again, in this order, so the services take the new values:")
    print("\n".join(_rerun_lines(spec, names, inventory, password)))
    return 0


def _check(args: argparse.Namespace, spec: VaultSpec) -> int:
    inventory = _inventory(args.inventory)
    vault_path = inventory / store.VAULT_RELPATH
    password = _password_file(args)
    problems: list[str] = []
    variables: dict[str, Any] | None = None
    if not vault_path.is_file():
        problems.append(
            f"{vault_path}: does not exist (onprem-mlops vault create --inventory {args.inventory})"
        )
    else:
        data = vault_path.read_bytes()
        if store.is_encrypted(data):
            _warn_permissions(password)
            secret = store.load_secret(password)
            variables = store.decrypt(data, vault_path, secret, password).variables
        else:
            problems.append(
                f"{vault_path}: not encrypted (`ansible-vault encrypt {vault_path}`, or "
                "`onprem-mlops vault create --force` replaces it)"
            )
            try:
                variables = store.parse_variables(
                    data.decode("utf-8", errors="replace"), vault_path
                )
            except VaultCommandError as exc:
                problems.append(str(exc))
    if variables is not None:
        for var in spec.variables:
            value = variables.get(var.name)
            problem = var.problem(var.name in variables, value)
            if problem is None and isinstance(value, str) and PLACEHOLDER_RE.search(value):
                problem = f"{var.name}: placeholder value (set it, or leave it empty)"
            if problem:
                problems.append(problem)
    if problems:
        print(f"{vault_path}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(
        f"{vault_path}: ok (encrypted; {', '.join(v.name for v in spec.generated)} "
        "present, not placeholders, long enough)"
    )
    return 0


ACTIONS = {"create": _create, "rotate": _rotate, "check": _check}


def _run(args: argparse.Namespace) -> int:
    action = getattr(args, "vault_action", None)
    if action is None:
        args.vault_parser.print_help(sys.stderr)
        return 2
    try:
        return ACTIONS[action](args, load_spec())
    except (VaultCommandError, SpecError) as exc:
        print(f"onprem-mlops vault {action}: {exc}", file=sys.stderr)
        return exc.status if isinstance(exc, VaultCommandError) else 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "vault",
        help="create, rotate and check the site's ansible-vault (group_vars/all/vault.yml)",
        description="The site's ansible-vault <inventory>/group_vars/all/vault.yml: every "
        "credential, generated strong and never printed. Exit status 0: ok; 1: problems found "
        "or refused; 2: usage error.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--inventory",
        required=True,
        metavar="DIR",
        help="the site's inventory directory (the vault is DIR/group_vars/all/vault.yml)",
    )
    common.add_argument(
        "--vault-password-file",
        metavar="FILE",
        help=f"vault password file (default: ${store.PASSWORD_ENV} when set, else "
        f"{store.DEFAULT_PASSWORD_FILE})",
    )
    actions = parser.add_subparsers(dest="vault_action", metavar="ACTION")
    create = actions.add_parser(
        "create",
        parents=[common],
        help="write a new encrypted vault with generated secrets",
        description="Write DIR/group_vars/all/vault.yml, encrypted, with a generated value "
        "for every generated secret and empty manual ones; creates the password file (0600) "
        "when missing. Refuses to replace an encrypted vault or real values unless --force.",
    )
    create.add_argument(
        "--force", action="store_true", help="replace an existing vault (keeps manual values)"
    )
    rotate = actions.add_parser(
        "rotate",
        parents=[common],
        help="regenerate secrets in place and say which playbooks to run again",
        description="Regenerate the named secrets (default: every generated one) in the "
        "encrypted vault, in place, and print the playbooks that apply them.",
    )
    rotate.add_argument("names", nargs="*", metavar="NAME", help="vault variable to regenerate")
    actions.add_parser(
        "check",
        parents=[common],
        help="check that the vault is encrypted and its secrets are strong",
        description="Exit 0 when the vault is encrypted and every generated secret is present, "
        "not a placeholder and long enough; else exit 1 naming the variables.",
    )
    parser.set_defaults(func=_run, vault_parser=parser)
