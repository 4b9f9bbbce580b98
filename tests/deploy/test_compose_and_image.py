"""The compose file and the image recipe, checked without an engine: the Compose binary, hadolint, and invariants.

No container engine or registry is reachable here, so nothing is built or started; what can be checked statically
is: the compose file resolves for every profile, each ragbot service is hardened and health-checked, the
Dockerfile passes hadolint and keeps its promises, and .env.example lists every setting.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import compose

from tests.conftest import REPO

COMPOSE = Path(compose.__file__).parent / "docker-compose"
HADOLINT = Path(sys.executable).with_name("hadolint")
PROFILES = ("slack", "teams", "gpu", "ingest")
RAGBOT_SERVICES = {
    "slack",
    "teams",
    "worker-retrieve",
    "worker-generate",
    "worker-reply-slack",
    "worker-reply-teams",
    "ingest",
}
ADAPTER_IMAGE = {"slack", "teams", "worker-reply-slack", "worker-reply-teams"}


def rendered(*profiles: str) -> dict[str, Any]:
    args = [str(COMPOSE), "--env-file", str(REPO / ".env.example")]
    for profile in profiles:
        args += ["--profile", profile]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAGBOT_", "ELASTIC_", "COMPOSE_"))}
    done = subprocess.run(
        [*args, "config", "--format", "json"], cwd=REPO, capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    return json.loads(done.stdout)


def test_the_compose_file_resolves_with_and_without_profiles() -> None:
    assert set(rendered()["services"]) == {"redis", "elasticsearch", "worker-retrieve", "worker-generate"}
    assert set(rendered(*PROFILES)["services"]) == RAGBOT_SERVICES | {"redis", "elasticsearch", "tgi"}


def test_a_missing_password_is_an_error_not_an_empty_string(tmp_path: Path) -> None:
    # Only the password is missing: compose reports one missing variable, in no fixed order.
    (tmp_path / "empty.env").write_text("RAGBOT_INTERACTIONS__USER_HASH_KEY=change-me\n")
    done = subprocess.run(
        [str(COMPOSE), "--env-file", str(tmp_path / "empty.env"), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("ELASTIC_")},
        check=False,
    )
    assert "required variable ELASTIC_PASSWORD is missing a value" in done.stderr


def test_a_missing_user_hash_key_is_an_error_not_the_built_in_key(tmp_path: Path) -> None:
    # The built-in key is refused with Elasticsearch: compose says so at `up`, not the reply workers at each answer.
    (tmp_path / "no-key.env").write_text("ELASTIC_PASSWORD=change-me\n")
    done = subprocess.run(
        [str(COMPOSE), "--env-file", str(tmp_path / "no-key.env"), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("RAGBOT_", "ELASTIC_"))},
        check=False,
    )
    assert done.returncode != 0
    assert "required variable RAGBOT_INTERACTIONS__USER_HASH_KEY is missing a value" in done.stderr
    assert "openssl rand -hex 32" in done.stderr
    assert "RAGBOT_INTERACTIONS__USER_HASH_KEY=change-me" in (REPO / ".env.example").read_text().splitlines()


def test_every_ragbot_service_is_hardened_health_checked_and_waits_for_what_it_needs() -> None:
    services = rendered(*PROFILES)["services"]
    for name in RAGBOT_SERVICES:
        service = services[name]
        assert service["read_only"] is True, name
        assert "/tmp" in service["tmpfs"] and any(t.startswith("/var/lib/ragbot") for t in service["tmpfs"]), name
        assert service["build"]["args"]["ROLE"] == ("adapter" if name in ADAPTER_IMAGE else "worker"), name
        assert all(dep["condition"] == "service_healthy" for dep in service["depends_on"].values()), name
        if name != "ingest":
            assert service["healthcheck"]["test"][0] == "CMD", name  # exec form: no shell in the probe
            assert service["restart"] == "unless-stopped"
        # Credentials come from .env or the environment, never written into the compose file.
        for key, value in service.get("environment", {}).items():
            if re.search(r"TOKEN|SECRET|PASSWORD|KEY", key):
                assert value == "change-me" or value is None, key  # the placeholder from .env.example
    tgi = services["tgi"]
    assert tgi["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "/health" in " ".join(tgi["healthcheck"]["test"]) and tgi["shm_size"]
    assert services["worker-generate"]["command"][3:5] == ["--pool", "threads"]


def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [str(HADOLINT), str(REPO / "deploy" / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_keeps_its_promises() -> None:
    text = (REPO / "deploy" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", text, re.M)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.M)  # numeric: runAsNonRoot can verify it
    assert "HF_HUB_OFFLINE=1" in runtime and "RAGBOT_DATA_DIR=/var/lib/ragbot" in runtime
    assert "pip install" not in runtime  # the runtime stage only copies the built environment
    build = text.split("AS runtime", 1)[0]
    # Torch from the PyTorch index of the role (CPU for workers, CUDA for training), before the project (and
    # anything depending on torch) is installed.
    project = build.index('pip install -c build-constraints.txt ".[$extras]"')
    assert (
        build.index('--index-url "$TORCH_INDEX"') < project and build.index('--index-url "$TORCH_CUDA_INDEX"') < project
    )
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in build
    assert re.search(r'^ENTRYPOINT \["ragbot"\]$', runtime, re.M)


def _env_example() -> Any:
    sys.path.insert(0, str(REPO / "deploy"))
    try:
        import env_example
    finally:
        sys.path.pop(0)
    return env_example


def test_env_example_lists_every_setting() -> None:
    env_example = _env_example()
    assert (REPO / ".env.example").read_text() == env_example.render(), "run python deploy/env_example.py"
    assert "ELASTIC_PASSWORD=change-me" in env_example.render()


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    env_example = _env_example()
    text = (REPO / "docs" / "CONFIGURATION.md").read_text()
    assert text.count(env_example.MARKER) == 1, "docs/CONFIGURATION.md lost its marker"
    intro, reference = text.split(env_example.MARKER)
    assert intro.startswith("# Configuration\n") and "/run/secrets/ragbot/" in intro  # the hand-written part stays
    assert text == env_example.render_configuration(text), "run python deploy/env_example.py"
    assert env_example.main(["--check"]) == 0
    # Every variable .env.example lists is in the reference, with a description, in its group's section.
    settings_part = env_example.render().split("\n# --- ragbot\n", 1)[1]
    variables = re.findall(r"^#? ?(RAGBOT_[A-Z0-9_]+)=", settings_part, re.M)
    assert len(variables) > 100
    for variable in variables:
        (row,) = [line for line in reference.splitlines() if line.startswith(f"| `{variable}` |")]
        assert len(row.split(" | ")[-1]) > 12, variable
    assert "## interactions: `RAGBOT_INTERACTIONS__*`" in reference
    assert "| `RAGBOT_INTERACTIONS__USER_HASH_KEY` | built in |" in reference
