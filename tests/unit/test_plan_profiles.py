"""Workload profiles: the shipped ones, and clear errors for bad ones."""

import textwrap

import pytest

from onprem_mlops.plan import gap
from onprem_mlops.plan.profiles import ProfileError, load_file, load_profiles

REQUIRED_WORKLOADS = {
    "predictive-maintenance-tabular",
    "retail-demand-forecasting",
    "cv-finetuning",
    "llm-7b-finetune",
    "llm-7b-inference",
}

VALID = """\
profiles:
  my-llm:
    title: My LLM
    sizing_rule: weights x 2 bytes
    gpu_memory_gb: {minimum: 40, recommended: 80}
    system_ram_gb: {minimum: 64, recommended: 128}
    cpu_cores: {minimum: 8, recommended: 16}
    disk_gb: {minimum: 500, recommended: 1000}
    network_gbps: {minimum: 1, recommended: 10}
"""


def write(tmp_path, text, name="custom.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        load_file(path)
    return str(info.value), str(path)


def test_shipped_profiles_cover_the_issue_workloads():
    profiles = load_profiles()
    assert set(profiles) >= REQUIRED_WORKLOADS
    for profile in profiles.values():
        assert len(profile.sizing_rule) > 200  # the rule is written out, not just numbers
        for field in ("gpu_memory_gb", "system_ram_gb", "cpu_cores", "disk_gb", "network_gbps"):
            need = getattr(profile, field)
            assert need.recommended >= need.minimum >= 0
    assert profiles["llm-7b-finetune"].needs_gpu
    assert profiles["llm-7b-finetune"].gpu_compute_capability == 8.0
    assert not profiles["predictive-maintenance-tabular"].needs_gpu


def test_valid_custom_profile_and_defaults(tmp_path):
    profiles = load_profiles([write(tmp_path, VALID)])
    mine = profiles["my-llm"]
    assert mine.gpu_count.minimum == 1  # implied by a GPU memory minimum
    assert mine.disk_media == "hdd" and mine.cpu_instruction_sets == ()
    assert set(profiles) >= REQUIRED_WORKLOADS  # the shipped ones stay available


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            "gpu_memory_gb: {minimum: -4, recommended: 80}",
            "profiles.my-llm.gpu_memory_gb.minimum: must be a number >= 0, got -4",
        ),
        (
            "system_ram_gb: {minimum: -4, recommended: 128}",
            "profiles.my-llm.system_ram_gb.minimum: must be a positive number, got -4",
        ),
        (
            "system_ram_gb: {minimum: 256, recommended: 128}",
            "profiles.my-llm.system_ram_gb.recommended: must be at least minimum (256), got 128",
        ),
        (
            "cpu_cores: {minimum: 8.5, recommended: 16}",
            "profiles.my-llm.cpu_cores.minimum: must be a whole number, got 8.5",
        ),
        (
            "cpu_cores: {minimum: '8', recommended: 16}",
            "profiles.my-llm.cpu_cores.minimum: must be a whole number, got '8'",
        ),
        (
            "disk_gb: {minimum: true, recommended: 1000}",
            "profiles.my-llm.disk_gb.minimum: must be a number, got True",
        ),
        (
            "gpu_memory_gb: {minimum: 40, recommended: 80000}",
            "profiles.my-llm.gpu_memory_gb.recommended: 80000 GB per GPU is not a sensible size",
        ),
        (
            "network_gbps: 10",
            "profiles.my-llm.network_gbps: must be a mapping with exactly 'minimum' and "
            "'recommended'",
        ),
        (
            "network_gbps: {minimum: 1, recomended: 10}",
            "profiles.my-llm.network_gbps: must be a mapping with exactly",
        ),
    ],
)
def test_bad_sizes_name_file_and_field(tmp_path, change, expected):
    key = change.split(":")[0]
    text = "\n".join(
        f"    {change}" if line.strip().startswith(f"{key}:") else line
        for line in VALID.splitlines()
    )
    message, path = error_of(tmp_path, text)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_unknown_and_missing_fields(tmp_path):
    text = VALID.replace("    cpu_cores:", "    cpu_cors:")
    message, path = error_of(tmp_path, text)
    assert f"{path}: profiles.my-llm.cpu_cors: unknown field" in message
    assert f"{path}: profiles.my-llm.cpu_cores: missing" in message


def test_gpu_count_zero_with_gpu_memory(tmp_path):
    message, _ = error_of(tmp_path, VALID + "    gpu_count: {minimum: 0, recommended: 1}\n")
    assert "gpu_count.minimum: must be at least 1 when gpu_memory_gb.minimum is above 0" in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("    disk_media: tape\n", "disk_media: must be one of hdd, ssd, nvme, got 'tape'"),
        ("    gpu_compute_capability: new\n", "gpu_compute_capability: must be a number"),
        ("    cpu_instruction_sets: avx2\n", "cpu_instruction_sets: must be a list of names"),
        ("    title: ''\n", "title: must be a non-empty text"),
    ],
)
def test_bad_optional_fields(tmp_path, extra, expected):
    text = VALID.replace("    title: My LLM\n", "") if "title" in extra else VALID
    message, _ = error_of(tmp_path, text + extra)
    assert expected in message


def test_malformed_yaml(tmp_path):
    message, path = error_of(tmp_path, "profiles:\n  my-llm: {title: [unclosed\n")
    assert message.startswith(f"{path}: malformed YAML")
    assert "line" in message


@pytest.mark.parametrize("text", ["- just\n- a list\n", "profiles: [a, b]\n", "{}\n"])
def test_wrong_top_level(tmp_path, text):
    message, path = error_of(tmp_path, text)
    assert message == f"{path}: profiles: must be a mapping of profile name to fields"


def test_bad_profile_name(tmp_path):
    message, _ = error_of(tmp_path, VALID.replace("  my-llm:", "  'My LLM!':"))
    assert "profiles.My LLM!: profile names use a-z" in message


def test_duplicate_name_across_files(tmp_path):
    write(tmp_path, VALID, "a.yml")
    write(tmp_path, VALID, "b.yml")
    with pytest.raises(
        ProfileError, match=r"b\.yml: profiles\.my-llm: already defined in .*a\.yml"
    ):
        load_profiles([tmp_path])


def test_shipped_name_cannot_be_redefined(tmp_path):
    write(tmp_path, VALID.replace("my-llm", "llm-7b-finetune"))
    with pytest.raises(ProfileError, match=r"already defined in .*llm-7b\.yml"):
        load_profiles([tmp_path])


def test_missing_profile_dir(tmp_path):
    with pytest.raises(ProfileError, match="does not exist"):
        load_profiles([tmp_path / "nope"])


def test_unknown_profile_in_assignment():
    profiles = load_profiles()
    with pytest.raises(ProfileError) as info:
        gap.resolve({"gpu01": ["llm-70b-finetune"]}, profiles)
    message = str(info.value)
    assert "host gpu01: unknown workload profile 'llm-70b-finetune'" in message
    assert "plan_workload_profiles" in message and "llm-7b-finetune" in message


def test_assignment_must_be_a_list():
    with pytest.raises(ProfileError, match="must be a list of profile names"):
        gap.resolve({"gpu01": "llm-7b-finetune"}, load_profiles())
