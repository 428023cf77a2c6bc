"""The Kubernetes manifests (deploy/kubernetes): up to date with Picasso's facts, rendered by
``kubectl kustomize``, valid against the Kubernetes schemas (``kubernetes-validate``) and
Strimzi's (``@kubernetes-models/strimzi-kafka-operator``, pinned in
tests/contracts/kubernetes), with the contract's topics and every setting each process needs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.kubernetes import generate
from picasso.domains import DOMAINS
from picasso.settings import REQUIRED_BY, SECRETS, min_insync_replicas, problems
from topics import ALL_TOPICS

KUBERNETES = Path(generate.__file__).parent
OVERLAYS = sorted(p.parent.name for p in (KUBERNETES / "overlays").glob("*/kustomization.yaml"))
VALIDATOR = Path(__file__).resolve().parents[1] / "contracts" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"
STRIMZI = "kafka.strimzi.io/v1beta2"
# Operators' resources with no schema on PyPI or npm: checked by hand below.
MONGODB = "mongodbcommunity.mongodb.com/v1"


def render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: deploy/local/install.sh installs it"
    done = subprocess.run([kubectl, "kustomize", str(KUBERNETES / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [o for o in yaml.safe_load_all(done.stdout) if o]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return render("production")


def of_kind(objects: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in kinds]


def picasso_pods(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(component, pod spec) of every workload that runs Picasso's image."""
    found = []
    for o in of_kind(objects, "Deployment", "Job", "StatefulSet", "Pod"):
        spec = o["spec"] if o["kind"] == "Pod" else o["spec"]["template"]["spec"]
        if any(c["image"].split("/")[-1].split(":")[0] == generate.IMAGE
               for c in spec["containers"]):
            found.append((o["metadata"]["labels"]["app.kubernetes.io/component"], spec))
    return found


def validate_strimzi(objects: list[dict[str, Any]],
                     tmp_path: Path) -> subprocess.CompletedProcess:
    """Strimzi's schemas' verdict on ``objects`` (tests/contracts/kubernetes/validate.mjs)."""
    path = tmp_path / "strimzi.json"
    path.write_text(json.dumps(objects))
    return subprocess.run(["node", "validate.mjs", str(path)], cwd=VALIDATOR,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_generated_files_follow_the_facts() -> None:
    assert generate.main(["--check"]) == 0, "run python -m deploy.kubernetes"


def test_there_is_a_production_overlay() -> None:
    assert "production" in OVERLAYS


def test_every_object_is_valid_kubernetes(rendered: tuple[str, list[dict[str, Any]]],
                                          tmp_path: Path) -> None:
    overlay, objects = rendered
    assert objects, f"{overlay} renders nothing"
    strimzi = [o for o in objects if o["apiVersion"] == STRIMZI]
    for o in objects:
        if o["apiVersion"] in (STRIMZI, MONGODB):
            continue
        kubernetes_validate.validate(o, KUBERNETES_VERSION, strict=True)
    if strimzi:
        done = validate_strimzi(strimzi, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count("valid: ") == len(strimzi)


def test_the_validators_refuse_a_bad_object(tmp_path: Path) -> None:
    """Both validators can fail: a proof that a pass above means something."""
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
             "spec": {"replicas": "two", "selector": {}, "template": {}}},
            KUBERNETES_VERSION, strict=True)
    done = validate_strimzi([{"apiVersion": STRIMZI, "kind": "KafkaTopic",
                              "metadata": {"name": "x"}, "spec": {"partitions": "many"}}],
                            tmp_path)
    assert done.returncode == 1 and "partitions" in done.stdout


def test_the_topics_are_the_contract(production: list[dict[str, Any]]) -> None:
    [config] = [o for o in of_kind(production, "ConfigMap")
                if o["metadata"]["name"] == generate.CONFIG]
    partitions = int(config["data"]["PICASSO_TOPIC_PARTITIONS"])
    replication = int(config["data"]["PICASSO_TOPIC_REPLICATION"])
    assert replication >= 3 and partitions >= 2
    topics = of_kind(production, "KafkaTopic")
    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(t.name() for t in ALL_TOPICS)
    for t in topics:
        assert t["spec"]["partitions"] == partitions
        assert t["spec"]["replicas"] == replication
        assert t["spec"]["config"]["min.insync.replicas"] == min_insync_replicas(replication) == 2
    [kafka] = of_kind(production, "Kafka")
    assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in topics} == {
        kafka["metadata"]["name"]}
    assert config["data"]["KAFKA_BOOTSTRAP"].startswith(f"{kafka['metadata']['name']}-kafka-")
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    [pool] = of_kind(production, "KafkaNodePool")
    assert pool["spec"]["replicas"] >= replication
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}


def test_the_stores_of_production(production: list[dict[str, Any]]) -> None:
    [mongodb] = of_kind(production, "MongoDBCommunity")
    assert mongodb["apiVersion"] == MONGODB
    assert mongodb["spec"]["type"] == "ReplicaSet" and mongodb["spec"]["members"] >= 3
    for user in mongodb["spec"]["users"]:
        assert user["passwordSecretRef"]["name"]  # a reference, never a password
    ledgers = [o for o in of_kind(production, "StatefulSet")
               if o["metadata"]["name"].startswith("picasso-ledger-")]
    assert len(ledgers) >= 2
    [shard_script] = [o for o in of_kind(production, "ConfigMap")
                      if o["metadata"]["name"] == "picasso-mongodb-shard"]
    for collection in generate.REACTIONS_SHARD_KEYS:
        assert f".{collection}'" in shard_script["data"]["shard.js"]


def test_each_process_gets_every_setting_its_role_needs(
        rendered: tuple[str, list[dict[str, Any]]]) -> None:
    """Each Picasso container's environment, with the referenced secrets filled in, passes
    the same check the process runs at start (picasso.settings.problems) for its role."""
    overlay, objects = rendered
    config = {o["metadata"]["name"]: o["data"] for o in of_kind(objects, "ConfigMap")}
    pods = picasso_pods(objects)
    assert {component for component, _ in pods} >= {"edge", "migrate", *DOMAINS}
    for component, spec in pods:
        role = "purchases" if component == "migrate" else component
        for c in spec["containers"]:
            env: dict[str, str] = {}
            for source in c.get("envFrom", []):
                env.update(config[source["configMapRef"]["name"]])
            for var in c.get("env", []):
                if "value" in var:
                    assert var["name"] not in SECRETS, f"{component}: {var['name']} inlined"
                    env[var["name"]] = var["value"]
                else:
                    ref = var["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == generate.SECRET
                    env[var["name"]] = "s" * 40 if "URL" not in var["name"] else (
                        "mongodb://picasso:s@picasso-mongodb-svc:27017/picasso")
            if role in REQUIRED_BY:
                assert problems(env, role) == [], f"{overlay}: {component}"


def test_no_secret_is_in_the_manifests(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    assert not of_kind(objects, "Secret"), f"{overlay} inlines a Secret"
    for o in of_kind(objects, "ConfigMap"):
        assert not set(o.get("data", {})) & set(SECRETS), o["metadata"]["name"]


def test_every_process_is_probed_and_unprivileged(
        rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    long_running = [(o["metadata"]["name"], o["spec"]["template"]["spec"])
                    for o in of_kind(objects, "Deployment")]
    long_running += [(o["metadata"]["name"], o["spec"]) for o in of_kind(objects, "Pod")
                     if o["spec"]["restartPolicy"] == "Always"
                     and o["metadata"]["labels"]["app.kubernetes.io/component"]
                     in {"edge", *DOMAINS}]
    for name, spec in long_running:
        assert spec["securityContext"]["runAsNonRoot"] is True
        for c in spec["containers"]:
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert c["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_local_overlay_is_what_podman_plays() -> None:
    """The local overlay (podman kube play, podman 4.3): plain Pods in the order of their
    --ip addresses, each with every pod's name in its hosts file (no Services, no DNS), each
    server of the embedded stack in a pod of its own from the stack image, only the edge
    published, on the host's 127.0.0.1, and every secret from the play's own Secret."""
    objects = render("local")
    prefix, secret = generate.LOCAL_PREFIX, f"{generate.LOCAL_PREFIX}-secrets"
    pods = of_kind(objects, "Pod")
    assert sorted(p["metadata"]["name"] for p in pods) == sorted(generate.local_pods(prefix))
    played = of_kind(generate.local_play(), "Pod")  # the file's order (kustomize sorts)
    assert [p["metadata"]["name"] for p in played] == generate.local_pods(prefix)
    assert {o["kind"] for o in objects} == {"Pod", "ConfigMap"}  # what podman 4.3 plays
    addresses = generate.local_addresses(prefix, generate.LOCAL_SUBNET)
    servers = {generate.local_pod_name(prefix, s) for s in generate.LOCAL_SERVERS}
    assert len(servers) == len(generate.LOCAL_SERVERS) == 7
    for p in pods:
        name, spec = p["metadata"]["name"], p["spec"]
        assert {a["hostnames"][0]: a["ip"] for a in spec["hostAliases"]} == addresses
        # podman 4.3 names an emptyDir's volume by the volume: one name per pod
        assert [v["name"] for v in spec["volumes"]] == [f"{name}-scratch"]
        [c] = spec["containers"]
        image = c["image"].split("/")[-1]
        assert image == (f"{generate.IMAGE}-stack:{generate.LOCAL_TAG}" if name in servers
                         else f"{generate.IMAGE}:{generate.LOCAL_TAG}"), name
        published = [port for port in c.get("ports", []) if "hostPort" in port]
        if name == f"{prefix}-edge":
            assert published == [{"name": "http", "containerPort": generate.EDGE_PORT,
                                  "hostIP": "127.0.0.1", "hostPort": generate.LOCAL_EDGE_PORT}]
        else:
            assert not published, name
        for var in c.get("env", []):
            if "valueFrom" in var:
                assert var["valueFrom"]["secretKeyRef"]["name"] == secret
        assert spec["restartPolicy"] == ("OnFailure" if name == f"{prefix}-migrate"
                                         else "Always")
    [config] = of_kind(objects, "ConfigMap")
    assert config["data"]["PICASSO_ENV"] == "local"  # the stand-ins' conveniences, opted into
    assert config["data"]["KAFKA_BOOTSTRAP"] == f"{prefix}-kafka:9092"


def test_the_edge_scales_and_keeps_serving(production: list[dict[str, Any]]) -> None:
    [hpa] = of_kind(production, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "picasso-edge"
    assert hpa["spec"]["minReplicas"] >= 2
    budgets = {o["metadata"]["name"] for o in of_kind(production, "PodDisruptionBudget")}
    assert budgets == {"picasso-edge", *(f"picasso-{d}" for d in DOMAINS)}
    [ingress] = of_kind(production, "Ingress")
    assert ingress["spec"]["tls"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] in {o["metadata"]["name"] for o in of_kind(production, "Service")}
