"""The parts of the Kubernetes manifests that follow from Picasso's own facts, written as YAML.

``python -m deploy.kubernetes`` writes them; ``python -m deploy.kubernetes --check`` fails
when a written file differs from what the facts give (the tests run it). What is derived:

* ``base/services.yaml``: one Deployment and PodDisruptionBudget per domain service
  (:data:`picasso.domains.DOMAINS`), each given exactly the secrets its role needs
  (:data:`picasso.settings.REQUIRED_BY` ∩ :data:`picasso.settings.SECRETS`);
* ``base/edge.yaml``: the edge's Deployment, Service, HorizontalPodAutoscaler and
  PodDisruptionBudget; ``base/migrate.yaml``: the ledger's migration Job;
* ``overlays/production/topics.yaml``: a Strimzi ``KafkaTopic`` per topic of the contract
  (:data:`topics.ALL_TOPICS`), partitions and replication from the overlay's settings;
* ``overlays/production/ledger.yaml``: a MariaDB StatefulSet per ledger shard;
* ``overlays/production/mongodb-shard.yaml``: the script that shards the reactions'
  collections on the picture id when the MongoDB deployment is a sharded cluster;
* ``overlays/local/play.yaml``: the whole system in containers for ``podman kube play``
  (:func:`local_play`; deploy/kubernetes/podman.py writes it for its own prefix and subnet).

Everything else (the overlays' kustomizations, the Kafka and MongoDB clusters' resources,
the settings) is written by hand beside them.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from picasso import mongo
from picasso.domains import DOMAINS, app_module, worker_args
from picasso.settings import (
    LOCAL_DEFAULTS,
    LOCAL_PORTS,
    REQUIRED_BY,
    SECRETS,
    Settings,
    min_insync_replicas,
    mysql_shards,
    topic_retention_ms,
)
from topics import ALL_TOPICS

HERE = Path(__file__).parent
IMAGE = "picasso"  # the overlays' ``images:`` give it a registry and a tag
PART_OF = "picasso"
CONFIG = "picasso-config"  # the ConfigMap every process reads its settings from
SECRET = "picasso-secrets"  # the Secret the secrets come from; made outside the manifests
EDGE_PORT = 8080
# Workers answer probes and Prometheus on this port (METRICS_PORT); the edge on its own.
WORKER_HEALTH_PORT = 9100
# Settings every process gets beside the overlay's ConfigMap: in a container the edge
# listens on every interface, and Faust keeps its little local state in a scratch volume.
POD_SETTINGS = {"EDGE_HOST": "0.0.0.0", "METRICS_HOST": "0.0.0.0",
                "METRICS_PORT": str(WORKER_HEALTH_PORT), "PICASSO_DATA_DIR": "/tmp/picasso"}
# The blob store's credentials: optional, a cluster may give S3 access by the pod's role.
BLOB_ROLES = ("edge", "uploads")
BLOB_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# The reactions' collections and their shard keys (picture id first: a picture's likes and
# its count live on one shard, and a like touches one shard).
LOCAL_S3_BUCKET, LOCAL_S3_REGION = Settings().s3_bucket, Settings().s3_region
REACTIONS_SHARD_KEYS: dict[str, dict[str, Any]] = {
    mongo.LIKES: {"picture_id": 1, "user_id": 1},
    mongo.LIKE_COUNTS: {"_id": "hashed"},
}


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": PART_OF, "app.kubernetes.io/component": component}


def secret_env(role: str, secret: str = SECRET) -> list[dict[str, Any]]:
    """The secrets of ``role``, each from the Secret by the setting's name."""
    names = [name for name in REQUIRED_BY[role] if name in SECRETS]
    env = [{"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}}
           for name in names]
    if role in BLOB_ROLES:
        env += [{"name": name, "valueFrom": {"secretKeyRef": {
            "name": secret, "key": name, "optional": True}}} for name in BLOB_SECRETS]
    return env


def container(name: str, args: list[str], role: str, port: int, *,
              probes: bool = True, image: str = IMAGE,
              secret: str = SECRET) -> dict[str, Any]:
    """A container of the one image, running ``args`` as ``role``, non-root, read-only."""
    spec: dict[str, Any] = {
        "name": name,
        "image": image,
        "args": args,
        "envFrom": [{"configMapRef": {"name": CONFIG}}],
        "env": ([{"name": k, "value": v} for k, v in POD_SETTINGS.items()]
                + secret_env(role, secret)),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                      "limits": {"memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
    }
    if probes:
        spec["ports"] = [{"name": "http", "containerPort": port}]
        spec["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "http"},
                                  "periodSeconds": 5, "failureThreshold": 3}
        spec["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"},
                                 "initialDelaySeconds": 30, "periodSeconds": 10,
                                 "failureThreshold": 6}
    return spec


def pod(containers: list[dict[str, Any]], component: str, *,
        restart: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        # Long enough for a worker to finish its batch and an edge to drain its requests.
        "terminationGracePeriodSeconds": 60,
        "containers": containers,
        "volumes": [{"name": "scratch", "emptyDir": {}}],
    }
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": labels(component)}, "spec": spec}


def deployment(name: str, component: str, replicas: int,
               containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(component)},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels(component)},
                 "template": pod(containers, component)},
    }


def disruption_budget(name: str, component: str, **budget: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "labels": labels(component)},
            "spec": {**budget, "selector": {"matchLabels": labels(component)}}}


def services() -> list[dict[str, Any]]:
    """A Deployment per domain service (one worker; overlays scale them up to the topics'
    partitions) and a budget that lets one of its workers be moved at a time."""
    objects = []
    for domain in DOMAINS:
        name = f"picasso-{domain}"
        objects.append(deployment(name, domain, 1, [
            container("worker", ["faust", *worker_args(domain, "/tmp/faust")], domain,
                      WORKER_HEALTH_PORT)]))
        objects.append(disruption_budget(name, domain, maxUnavailable=1))
    return objects


def edge() -> list[dict[str, Any]]:
    name = "picasso-edge"
    return [
        deployment(name, "edge", 2, [container("edge", ["python", "-m", "web"], "edge",
                                               EDGE_PORT)]),
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "labels": labels("edge")},
         "spec": {"selector": labels("edge"),
                  "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": name, "labels": labels("edge")},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                  "minReplicas": 2, "maxReplicas": 10,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization",
                                                "averageUtilization": 70}}}]}},
        disruption_budget(name, "edge", minAvailable=1),
    ]


def migrate() -> list[dict[str, Any]]:
    """The ledger's migrations, a step of every release before the purchases workers start
    (they refuse to run on a ledger that lacks one)."""
    job_pod = pod([container("migrate", ["faust", "-A", app_module("purchases"), "migrate"],
                             "purchases", 0, probes=False)], "migrate", restart="OnFailure")
    return [{"apiVersion": "batch/v1", "kind": "Job",
             "metadata": {"name": "picasso-migrate", "labels": labels("migrate")},
             "spec": {"backoffLimit": 10, "template": job_pod}}]


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (``#`` comments), as a ConfigMap's data."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def kafka_topics(settings: dict[str, str], cluster: str) -> list[dict[str, Any]]:
    """A KafkaTopic per topic of the contract, as the overlay's settings size them."""
    partitions = int(settings["PICASSO_TOPIC_PARTITIONS"])
    replication = int(settings["PICASSO_TOPIC_REPLICATION"])
    prefix = settings.get("PICASSO_TOPIC_PREFIX", "")
    retention_ms = topic_retention_ms(float(settings.get("TOPIC_RETENTION_HOURS",
                                                         Settings.topic_retention_hours)))
    return [{"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
             "metadata": {"name": topic.name(prefix).replace(".", "-").replace("_", "-"),
                          "labels": {"strimzi.io/cluster": cluster, **labels("kafka")}},
             "spec": {"topicName": topic.name(prefix), "partitions": partitions,
                      "replicas": replication,
                      "config": {"min.insync.replicas": min_insync_replicas(replication),
                                 "retention.ms": retention_ms}}}
            for topic in ALL_TOPICS]


def ledger(shards: int, storage: str) -> list[dict[str, Any]]:
    """A MariaDB StatefulSet (one server) and its headless Service per ledger shard; the
    shards' URLs in MYSQL_SHARDS name them as ``picasso-ledger-<n>-0.picasso-ledger-<n>``."""
    objects = []
    for n in range(shards):
        name = f"picasso-ledger-{n}"
        objects.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": labels(name)},
            "spec": {"clusterIP": "None", "selector": labels(name),
                     "ports": [{"name": "mysql", "port": 3306}]}})
        objects.append({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "labels": labels(name)},
            "spec": {
                "serviceName": name, "replicas": 1,
                "selector": {"matchLabels": labels(name)},
                "template": {"metadata": {"labels": labels(name)}, "spec": {
                    "securityContext": {"fsGroup": 999},
                    "containers": [{
                        "name": "mariadb", "image": "mariadb:11.4",
                        "ports": [{"name": "mysql", "containerPort": 3306}],
                        "env": [
                            {"name": "MARIADB_DATABASE", "value": f"picasso_shard{n}"},
                            {"name": "MARIADB_USER", "value": "picasso"},
                            {"name": "MARIADB_PASSWORD", "valueFrom": {"secretKeyRef": {
                                "name": "picasso-ledger", "key": "password"}}},
                            {"name": "MARIADB_ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {
                                "name": "picasso-ledger", "key": "root-password"}}}],
                        "readinessProbe": {"exec": {"command": [
                            "healthcheck.sh", "--connect", "--innodb_initialized"]},
                            "periodSeconds": 10},
                        "livenessProbe": {"exec": {"command": [
                            "healthcheck.sh", "--connect"]},
                            "initialDelaySeconds": 60, "periodSeconds": 20},
                        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}]}]}},
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": storage}}}}]}})
    return objects


def mongodb_sharding() -> list[dict[str, Any]]:
    """A Job that shards the reactions' collections on the picture id; on a replica set
    (no shards) it says so and changes nothing."""
    lines = ["// Written by deploy/kubernetes/generate.py from picasso.mongo.",
             "const name = process.env.MONGODB_DATABASE || 'picasso';",
             "if (!db.adminCommand({listShards: 1}).ok) {",
             "  print('not a sharded cluster: nothing to shard');",
             "} else {",
             "  sh.enableSharding(name);"]
    for collection, key in REACTIONS_SHARD_KEYS.items():
        lines.append(f"  sh.shardCollection(name + '.{collection}', "
                     f"{json.dumps(key)});")
    lines.append("}")
    script = "\n".join(lines) + "\n"
    job_pod = pod([{
        "name": "shard", "image": "mongo:7.0",
        "command": ["mongosh", "--quiet", "$(MONGODB_URL)", "/scripts/shard.js"],
        "env": [{"name": "MONGODB_URL", "valueFrom": {"secretKeyRef": {
            "name": SECRET, "key": "MONGODB_URL"}}}],
        "envFrom": [{"configMapRef": {"name": CONFIG}}],
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}]}],
        "mongodb-shard", restart="OnFailure")
    job_pod["spec"]["volumes"] = [{"name": "scripts",
                                   "configMap": {"name": "picasso-mongodb-shard"}}]
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "picasso-mongodb-shard", "labels": labels("mongodb-shard")},
         "data": {"shard.js": script}},
        {"apiVersion": "batch/v1", "kind": "Job",
         "metadata": {"name": "picasso-mongodb-shard", "labels": labels("mongodb-shard")},
         "spec": {"backoffLimit": 10, "template": job_pod}},
    ]


# The local overlay: the whole system in containers on one machine (`podman kube play`),
# each of the embedded stack's servers in a pod of its own from the stack image. Podman 4.3
# has no Services and, without a DNS plugin, no names: every pod gets a fixed address on the
# overlay's network (``--ip``, in the order of the pods) and every other pod's name in its
# /etc/hosts (hostAliases). Only the edge names a port: podman publishes every port named.
# deploy/kubernetes/podman.py plays it.
LOCAL_SERVERS = ("kafka", "mongodb", "mariadb", "s3", "firebase_auth", "stripe", "smtp")
LOCAL_PREFIX = "picasso"  # the pods', network's and secret's names start with it
LOCAL_SUBNET = "10.89.200.0/24"  # the network the committed file is written for
LOCAL_TAG = "latest"
LOCAL_EDGE_PORT = LOCAL_PORTS["edge"]  # published on the host's 127.0.0.1 only
LEDGER_USER = "picasso"
FIRST_HOST = 10  # the first pod's address in the subnet (.1 is the gateway)


def local_pod_name(prefix: str, part: str) -> str:
    return f"{prefix}-{part.replace('_', '-')}"


def local_settings(prefix: str, edge_port: int) -> dict[str, str]:
    """The ConfigMap of the local overlay: the servers by pod name, the local conveniences
    opted into as the embedded stack does (PICASSO_ENV=local); never a secret."""
    def at(server: str) -> str:
        return f"{local_pod_name(prefix, server)}:{LOCAL_PORTS[server]}"

    s3 = f"http://{at('s3')}"
    return {
        "PICASSO_ENV": "local",
        "KAFKA_BOOTSTRAP": at("kafka"),
        # This broker keeps messages in memory only: the edge journals what it accepts.
        "BROKER_JOURNAL_DIR": "/tmp/picasso/journal",
        "BLOB_BACKEND": "s3", "S3_ENDPOINT_URL": s3, "S3_BUCKET": LOCAL_S3_BUCKET,
        "S3_REGION": LOCAL_S3_REGION, "PUBLIC_MEDIA_URL": f"{s3}/{LOCAL_S3_BUCKET}",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{edge_port}",
        "FIREBASE_PROJECT_ID": LOCAL_DEFAULTS["FIREBASE_PROJECT_ID"],
        "FIREBASE_AUTH_EMULATOR_HOST": at("firebase_auth"),
        "STRIPE_API_BASE": f"http://{at('stripe')}",
        "STRIPE_PUBLISHABLE_KEY": LOCAL_DEFAULTS["STRIPE_PUBLISHABLE_KEY"],
        "SMTP_HOST": local_pod_name(prefix, "smtp"), "SMTP_PORT": str(LOCAL_PORTS["smtp"]),
    }


def local_secrets(prefix: str, password: str, signing_key: str) -> dict[str, str]:
    """The values of the local overlay's Secret (``podman secret create``, never a file of
    the overlay): the stand-ins' fixed ones where they fix them, ``password`` for the
    ledger's account and ``signing_key`` made fresh by whoever plays it."""
    ledger = f"mysql://{LEDGER_USER}:{password}@{local_pod_name(prefix, 'mariadb')}:" \
             f"{LOCAL_PORTS['mariadb']}"
    return {
        # SecantusDB says it is the replica set's member at the address it listens on
        # (0.0.0.0 in its pod): the clients keep to the pod's name instead.
        "MONGODB_URL": f"mongodb://{local_pod_name(prefix, 'mongodb')}:{LOCAL_PORTS['mongodb']}"
                       "/?directConnection=true",
        "MYSQL_SHARDS": mysql_shards(ledger),
        # localstripe signs its events with the secret the stack registers the webhook with.
        **{name: LOCAL_DEFAULTS[name] for name in (
            "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "FIREBASE_API_KEY",
            *BLOB_SECRETS)},
        "SIGNING_KEY": signing_key,
        "LEDGER_PASSWORD": password,
    }


def local_pods(prefix: str) -> list[str]:
    """The local overlay's pod names, in the order of the file (the ``--ip`` order)."""
    return [local_pod_name(prefix, p)
            for p in (*LOCAL_SERVERS, "migrate", *DOMAINS, "edge")]


def local_addresses(prefix: str, subnet: str) -> dict[str, str]:
    hosts = list(ipaddress.ip_network(subnet).hosts())[FIRST_HOST - 1:]
    pods = local_pods(prefix)
    assert len(hosts) >= len(pods), f"{subnet} is too small for {len(pods)} pods"
    return {name: str(address) for name, address in zip(pods, hosts)}


def local_play(prefix: str = LOCAL_PREFIX, subnet: str = LOCAL_SUBNET,
               edge_port: int = LOCAL_EDGE_PORT, tag: str = LOCAL_TAG) -> list[dict[str, Any]]:
    """Every object of the local overlay, in the order `podman kube play` takes them."""
    secret = local_pod_name(prefix, "secrets")
    app, stack = f"localhost/{IMAGE}:{tag}", f"localhost/{IMAGE}-stack:{tag}"
    addresses = local_addresses(prefix, subnet)
    aliases = [{"ip": ip, "hostnames": [name]} for name, ip in addresses.items()]

    def local_pod(part: str, containers: list[dict[str, Any]],
                  restart: str = "Always") -> dict[str, Any]:
        spec = pod(containers, part.replace("_", "-"), restart=restart)
        spec["spec"]["hostAliases"] = aliases
        # Podman 4.3 makes an emptyDir a named volume of the volume's name, one for every
        # pod that names it: each pod's scratch volume has a name of its own.
        scratch = f"{local_pod_name(prefix, part)}-scratch"
        spec["spec"]["volumes"] = [{"name": scratch, "emptyDir": {}}]
        for c in containers:
            c["volumeMounts"] = [{"name": scratch, "mountPath": "/tmp"}]
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": local_pod_name(prefix, part), **spec["metadata"]},
                "spec": spec["spec"]}

    objects: list[dict[str, Any]] = [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CONFIG, "labels": labels("config")},
        "data": local_settings(prefix, edge_port)}]
    for server in LOCAL_SERVERS:
        name = local_pod_name(prefix, server)
        args = [server, "--port", str(LOCAL_PORTS[server]), "--bind", "0.0.0.0",
                "--advertise", name]
        env = [{"name": "HOME", "value": "/tmp"}]
        if server == "stripe":
            args += ["--webhook-url", f"http://{local_pod_name(prefix, 'edge')}:{EDGE_PORT}"
                                      "/api/v1/webhooks/stripe"]
        if server == "mariadb":
            env += [{"name": "LEDGER_USER", "value": LEDGER_USER},
                    {"name": "LEDGER_PASSWORD", "valueFrom": {"secretKeyRef": {
                        "name": secret, "key": "LEDGER_PASSWORD"}}}]
        objects.append(local_pod(server, [{
            "name": "server", "image": stack, "args": args, "env": env,
            "securityContext": {"allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}]}]))
    def unpublished(spec: dict[str, Any]) -> dict[str, Any]:
        """Podman 4.3 publishes a containerPort on the host's port of the same number when
        it names no hostPort: no ports, and the probes name the port by number."""
        port = spec.pop("ports")[0]["containerPort"]
        for probe in ("readinessProbe", "livenessProbe"):
            spec[probe]["httpGet"]["port"] = port
        return spec

    objects.append(local_pod("migrate", [container(
        "migrate", ["faust", "-A", app_module("purchases"), "migrate"], "purchases", 0,
        probes=False, image=app, secret=secret)], restart="OnFailure"))
    for domain in DOMAINS:
        objects.append(local_pod(domain, [unpublished(container(
            "worker", ["faust", *worker_args(domain, "/tmp/faust")], domain,
            WORKER_HEALTH_PORT, image=app, secret=secret))]))
    edge_container = container("edge", ["python", "-m", "web"], "edge", EDGE_PORT,
                               image=app, secret=secret)
    edge_container["ports"][0].update(hostIP="127.0.0.1", hostPort=edge_port)
    objects.append(local_pod("edge", [edge_container]))
    return objects


HEADER = "# Generated by `python -m deploy.kubernetes` from Picasso's facts; do not edit.\n"


class _Dumper(yaml.SafeDumper):
    """Block style for text of several lines (a script stays readable in its ConfigMap)."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def dump(objects: list[dict[str, Any]]) -> str:
    return HEADER + "".join("---\n" + yaml.dump(o, Dumper=_Dumper, sort_keys=False)
                            for o in objects)


def config(settings: dict[str, str]) -> list[dict[str, Any]]:
    """The ConfigMap every process reads its settings from (never a secret: see SECRETS)."""
    return [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": CONFIG, "labels": labels("config")}, "data": settings}]


def files() -> dict[Path, str]:
    """Every generated file and its text."""
    production = HERE / "overlays" / "production"
    settings = read_env_file(production / "settings.env")
    cluster = read_env_file(production / "cluster.env")
    return {
        HERE / "base" / "services.yaml": dump(services()),
        HERE / "base" / "edge.yaml": dump(edge()),
        HERE / "base" / "migrate.yaml": dump(migrate()),
        production / "config.yaml": dump(config(settings)),
        production / "topics.yaml": dump(kafka_topics(settings, cluster["KAFKA_CLUSTER"])),
        production / "ledger.yaml": dump(ledger(int(cluster["LEDGER_SHARDS"]),
                                               cluster["LEDGER_STORAGE"])),
        production / "mongodb-shard.yaml": dump(mongodb_sharding()),
        HERE / "overlays" / "local" / "play.yaml": dump(local_play()),
    }


def main(argv: list[str]) -> int:
    stale = []
    for path, text in files().items():
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for path in stale:
        print(f"{path} is out of date: run python -m deploy.kubernetes", file=sys.stderr)
    return 1 if stale else 0
