"""The Helm chart, linted and rendered by the Helm library (helm-python-sdk), validated against the Kubernetes schemas
(kubernetes-validate), and held to its invariants. No cluster is needed."""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.conftest import REPO

CHART = REPO / "helm" / "ragbot"
KUBE_VERSIONS = ("1.29.0", "1.33.0")
CRD_GROUPS = ("keda.sh/", "monitoring.coreos.com/")  # not in the core schemas; rendered for operators that have them
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|HASH_KEY")


def values_file(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / name).read_text()) or {}


# Every optional feature on at once, on top of the production values.
EVERYTHING: dict[str, Any] = {
    **values_file("values-prod.yaml"),
    "tgi": {
        **values_file("values-prod.yaml")["tgi"],
        "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 3, "targetQueueSize": "8"},
    },
}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    out = helm.Chart.load(str(CHART)).render(values or {}, name="rb", namespace="ragbot")
    return [
        doc for path, text in sorted(out.items()) if path.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc
    ]


def pods(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for doc in docs:
        if doc["kind"] == "Deployment":
            found.append((doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "CronJob":
            found.append((doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return found


CASES = {
    "defaults": {},
    "dev": values_file("values-dev.yaml"),
    "prod": values_file("values-prod.yaml"),
    "all": EVERYTHING,
}


def test_the_chart_lints_clean() -> None:
    for values in CASES.values():
        report = helm.lint(str(CHART), values, strict=True)
        assert report["errors"] == [] and not [m for m in report["messages"] if m["severity"] >= 2], report


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_manifests_are_valid_kubernetes(case: str) -> None:
    docs = render(CASES[case])
    assert docs
    for doc in docs:
        if doc["apiVersion"].startswith(CRD_GROUPS):
            assert doc["kind"] in ("ScaledObject", "ServiceMonitor", "PrometheusRule")
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_pod_is_non_root_bounded_and_probed(case: str) -> None:
    docs = render(CASES[case])
    for name, spec in pods(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            resources = container["resources"]
            assert resources["requests"] and resources["limits"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            if not name.endswith("-tgi"):
                assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        if not any(d["kind"] == "CronJob" and d["metadata"]["name"] == name for d in docs):
            [container] = spec["containers"]
            assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container), name


def test_workers_are_probed_by_their_files_and_adapters_over_http() -> None:
    deployments = {d["metadata"]["name"]: d for d in render(EVERYTHING) if d["kind"] == "Deployment"}
    slack = deployments["rb-ragbot-slack"]["spec"]["template"]["spec"]["containers"][0]
    assert (
        slack["readinessProbe"]["httpGet"]["path"] == "/readyz"
        and slack["livenessProbe"]["httpGet"]["path"] == "/healthz"
    )
    retrieve = deployments["rb-ragbot-retrieve"]["spec"]["template"]["spec"]["containers"][0]
    assert retrieve["readinessProbe"]["exec"]["command"][:4] == ["python", "-m", "ragbot_worker.probes", "ready"]
    assert retrieve["image"].startswith("ghcr.io/ragbot/ragbot-worker:")
    assert deployments["rb-ragbot-reply"]["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "ghcr.io/ragbot/ragbot-adapter:"
    )


def test_tgi_runs_on_a_gpu_with_the_adapters_ragbot_is_told_about() -> None:
    docs = render(EVERYTHING)
    tgi = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "rb-ragbot-tgi")
    spec = tgi["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["tolerations"][0]["key"] == "nvidia.com/gpu" and spec["nodeSelector"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert any(v.get("emptyDir", {}).get("medium") == "Memory" for v in spec["volumes"])  # /dev/shm
    env = {e["name"]: e.get("value") for e in container["env"]}
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert env["LORA_ADAPTERS"] == "handbook-v3=/data/adapters/versions/handbook-v3"
    assert json.loads(config["RAGBOT_TGI__SERVED_ADAPTERS"]) == ["handbook-v3"]
    assert config["RAGBOT_TGI__URL"] == "http://rb-ragbot-tgi:8080"
    # The adapter registry: generate workers read its routing from the model volume, read-only, where TGI sees it.
    assert config["RAGBOT_TGI__ROUTING"] == "registry" and config["RAGBOT_FINETUNE__REGISTRY"] == "/data/adapters"
    assert {"name": "models", "mountPath": "/data", "readOnly": True} in container["volumeMounts"]
    generate = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "rb-ragbot-generate")
    worker = generate["spec"]["template"]["spec"]
    [mount] = [m for m in worker["containers"][0]["volumeMounts"] if m["name"] == "adapter-registry"]
    assert mount == {"name": "adapter-registry", "mountPath": "/data/adapters", "subPath": "adapters", "readOnly": True}
    [volume] = [v for v in worker["volumes"] if v["name"] == "adapter-registry"]
    assert volume["persistentVolumeClaim"] == {"claimName": "ragbot-models", "readOnly": True}
    others = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] != "rb-ragbot-generate"]
    assert not any(v["name"] == "adapter-registry" for d in others for v in d["spec"]["template"]["spec"]["volumes"])
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == "rb-ragbot-tgi")
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "tgi_queue_size"


def test_secrets_are_referenced_never_written() -> None:
    docs = render(EVERYTHING)
    assert not [d for d in docs if d["kind"] == "Secret"]
    for name, spec in pods(docs):
        for container in spec["containers"]:
            for env in container.get("env", []):
                assert not (SECRET_NAME.search(env["name"]) and "value" in env), (name, env["name"])
            if not name.endswith("-tgi"):
                assert {"secretRef": {"name": "ragbot"}} in container["envFrom"], name
    with pytest.raises(helm.HelmError, match="looks like a secret: put it in existingSecret"):
        render({"config": {"RAGBOT_SLACK__BOT_TOKEN": "xoxb-oops"}})


def test_every_deployment_has_a_disruption_budget_and_rolls_on_config_changes() -> None:
    docs = render(values_file("values-prod.yaml"))
    deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
    budgets = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert deployments == budgets
    scaled = {
        d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")
    }
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in scaled:
            assert "replicas" not in doc["spec"]  # the autoscaler owns it

    def checksum(values: dict[str, Any]) -> str:
        slack = next(
            d for d in render(values) if d["metadata"]["name"] == "rb-ragbot-slack" and d["kind"] == "Deployment"
        )
        return str(slack["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) != checksum({"config": {"RAGBOT_LIMITS__USER_PER_MINUTE": "10"}})


def test_what_cannot_work_is_refused_with_a_reason() -> None:
    with pytest.raises(helm.HelmError, match="tgi.modelVolume.existingClaim"):
        render({"tgi": {"enabled": True}})
    with pytest.raises(helm.HelmError, match="jobs.ingest.docsVolume.existingClaim"):
        render({"jobs": {"ingest": {"enabled": True}}})
    with pytest.raises(helm.HelmError, match="elasticsearch.url is required"):
        render({"elasticsearch": {"url": ""}})
    with pytest.raises(helm.HelmError, match="the registry lives on the model volume"):
        render({"tgi": {"adapterRegistry": {"enabled": True}}})
    with pytest.raises(helm.HelmError, match="remove config.RAGBOT_TGI__ADAPTER"):
        render({**EVERYTHING, "config": {"RAGBOT_TGI__ADAPTER": "handbook-v3"}})


def _metric_names() -> set[str]:
    """The metric families ragbot exports, from the definitions in ragbot.observability.metrics."""
    source = (REPO / "shared" / "src" / "ragbot" / "observability" / "metrics.py").read_text()
    return set(re.findall(r'"(ragbot_[a-z_]+)"', source))


def _referenced(expr: str) -> set[str]:
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"\bragbot_[a-z_]+\b", expr)}


def test_alerts_and_dashboard_use_only_metrics_that_exist() -> None:
    known = _metric_names()
    assert {"ragbot_queue_depth", "ragbot_answers_total", "ragbot_hop_seconds"} <= known
    rules = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["runbook"], rule["alert"]
    dashboard = json.loads((CHART / "files" / "grafana-dashboard.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for expr in exprs:
        unknown = _referenced(expr) - known
        assert not unknown, (expr, unknown)
    runbook = (REPO / "docs" / "RUNBOOK.md").read_text().lower()
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert f"## {anchor.replace('-', ' ')}" in runbook, f"docs/RUNBOOK.md has no section for #{anchor}"


def test_the_chart_ships_the_alerts_and_the_dashboard() -> None:
    docs = render(values_file("values-prod.yaml"))
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    assert {r["alert"] for r in rule["spec"]["groups"][0]["rules"]} >= {"RagbotQueueBacklog", "RagbotTgiDown"}
    dashboard = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"))
    assert json.loads(dashboard["data"]["ragbot.json"])["uid"] == "ragbot-overview"
