"""Bad input stops the ml_stack role before it changes anything; no CUDA fails when required.

These run ansible-playbook from the control node against the scenario's (converged)
container, with the inventory Molecule uses, and read the play recap.
"""

import re

import pytest
from conftest import assert_fails_before_change


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"ml_stack_install_mode": "ftp"},
            r"ml_stack_install_mode 'ftp' is not a known install source\. Allowed: index .*"
            r"or wheelhouse",
        ),
        (
            {"ml_stack_wheelhouse_dir": ""},
            r"ml_stack_install_mode 'wheelhouse' needs ml_stack_wheelhouse_dir.*Allowed install "
            r"modes: index .* or wheelhouse",
        ),
        (
            {"ml_stack_wheelhouse_dir": "/nonexistent/wheelhouse"},
            r"ml_stack_wheelhouse_dir '/nonexistent/wheelhouse' has no wheelhouse "
            r"'cp311-x86_64-cpu'.*build_wheelhouse\.yml",
        ),
        (
            {"ml_stack_torch_variant": "cuda12"},
            r"ml_stack_torch_variant 'cuda12' \(allowed: auto, cpu or a CUDA build tag",
        ),
        (
            {"ml_stack_packages": ["numpy", "pandas>=2"]},
            r"must be pinned as name==version, not \['numpy', 'pandas>=2'\]",
        ),
        ({"ml_stack_require_cuda": "maybe"}, r"ml_stack_require_cuda 'maybe' is not valid"),
        (
            {"ml_stack_python": "/usr/bin/python9"},
            r"ml_stack_python '/usr/bin/python9' did not run",
        ),
        (
            {"ml_stack_install_mode": "index", "ml_stack_index_url": "mirror.local/simple"},
            r"ml_stack_index_url 'mirror\.local/simple' is not an http://, https:// or file:// URL",
        ),
        (
            {"ml_stack_install_mode": "index", "ml_stack_ca_bundle": "/etc/ssl/none.pem"},
            r"ml_stack_ca_bundle '/etc/ssl/none\.pem' is not a file",
        ),
        ({"ml_stack_add_to_path": "maybe"}, r"ml_stack_add_to_path.*bool"),
    ],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars), expected)


def test_no_cuda_is_a_failure_when_cuda_is_required(converge_with):
    # The container has no GPU: requiring CUDA must fail in the post-install check.
    run = converge_with({"ml_stack_require_cuda": True}, "--tags", "ml_stack-check")
    output = run.output
    assert run.returncode != 0, output[-2000:]
    assert re.search(r"not usable: no CUDA: torch\.cuda\.is_available\(\) is false", output)
    assert "ml_stack_require_cuda: false" in output
    assert run.recap["changed"] == 0
