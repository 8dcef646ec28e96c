"""Write a deterministic synthetic infra monorepo to benchmark portpolicy on.

A benchmark on a handful of fixtures says nothing about a real repository, where most
files are not portpolicy's formats but must still be walked, classified and (for YAML)
composed. The tree mixes compose projects, root-filesystem trees of hosts (systemd units,
drop-ins, sysctl.d files), Kubernetes manifests, Helm charts, Ansible, GitHub workflows
and the usual README/Python/shell/JSON files, in shares like an infra monorepo. A small
share of planted problems (privileged ports, ephemeral-range ports, conflicts, bad kernel
settings) makes the rules do real work. The same ``--files`` and ``--seed`` always give
byte-identical trees.

Usage: ``python benchmarks/generate.py OUTDIR --files 20000 [--seed 1]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import textwrap
from collections.abc import Callable

# Share of the files per category; YAML kinds add up to about 35 %.
SHARES: dict[str, float] = {
    "compose": 0.065,
    "override": 0.02,
    "stack": 0.004,
    "k8s": 0.08,
    "helm": 0.03,
    "ansible": 0.11,
    "workflow": 0.02,
    "misc_yaml": 0.02,
    "systemd": 0.17,
    "sysctl": 0.05,
    "md": 0.08,
    "sh": 0.08,
    "json": 0.10,
    "other": 0.017,
    # "py" takes what is left, so the total is exactly --files.
}
YAML_KINDS = ("compose", "override", "stack", "k8s", "helm", "ansible", "workflow", "misc_yaml")

_WORDS = (
    "alpha api archive audit auth billing bridge cache catalog checkout cluster config core "
    "courier crm data delivery directory dispatch edge events export feed files fleet gateway "
    "geo graph identity import inbox index inventory invoice jobs ledger ledger-sync loyalty "
    "mailer maps media metrics notify orders partner payments pdf pricing profile quota "
    "rating recommend reports returns risk router scheduler search session shipping signup "
    "sso stock storage stream support sync tax tenant tracker upload usage users vault "
    "voucher wallet warehouse webhooks wishlist worker"
)
WORDS = _WORDS.split()
_PROSE = (
    "the service runs behind the load balancer and keeps its state in the shared database "
    "each deploy rolls one instance at a time so traffic never drops while the new version "
    "starts health checks run every ten seconds and a failed check takes the instance out "
    "of rotation logs go to the central collector metrics are scraped by prometheus alerts "
    "page the owning team during office hours configuration lives in the environment and "
    "secrets come from vault never commit credentials to this repository ask in the channel "
    "before changing ports because firewall rules and dashboards depend on them"
)
PROSE = _PROSE.split()
ENVS = ("prod", "staging", "dev", "qa")
SITES = ("fra1", "ams2", "lon1", "nyc3", "sfo2", "sgp1")
ROLES = ("web", "db", "cache", "lb", "monitor", "dns", "ci", "mail", "app", "worker", "k8s-node")

# (image, container ports, user or None, short name)
IMAGES: tuple[tuple[str, tuple[int, ...], str | None, str], ...] = (
    ("nginx:1.27-alpine", (80,), None, "nginx"),
    ("postgres:16.3", (5432,), "postgres", "db"),
    ("redis:7.2-alpine", (6379,), "redis", "redis"),
    ("rabbitmq:3.13-management", (5672, 15672), None, "rabbitmq"),
    ("grafana/grafana:11.1.0", (3000,), "472", "grafana"),
    ("prom/prometheus:v2.53.0", (9090,), "nobody", "prometheus"),
    ("memcached:1.6", (11211,), "memcache", "memcached"),
    ("mongo:7.0", (27017,), None, "mongo"),
    ("docker.elastic.co/elasticsearch/elasticsearch:8.14.1", (9200, 9300), "1000", "elasticsearch"),
    ("traefik:v3.0", (80, 443, 8080), None, "traefik"),
    ("minio/minio:RELEASE.2024-06-13T22-53-53Z", (9000, 9001), None, "minio"),
    ("mysql:8.4", (3306,), None, "mysql"),
    ("bitnami/kafka:3.7", (9092,), "1001", "kafka"),
    ("nats:2.10", (4222, 8222), None, "nats"),
    ("jaegertracing/all-in-one:1.58", (16686, 14268), None, "jaeger"),
    ("hashicorp/vault:1.17", (8200,), "vault", "vault"),
    ("haproxy:2.9", (8404,), "haproxy", "haproxy"),
    ("mailhog/mailhog:v1.0.1", (1025, 8025), None, "mailhog"),
)
ENV_VALUES = (
    ("URL", "http://api:8080"),
    ("TIMEOUT", "30s"),
    ("LOG_LEVEL", "info"),
    ("HOST", "${KEY:-localhost}"),
    ("TOKEN", "${KEY}"),
)
APP_PORTS = (3000, 4000, 5000, 8000, 8080, 8081, 8443, 9000, 9292, 10000)


class Tree:
    """Files gathered in memory and written in sorted order, so runs are byte-identical."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.files: dict[str, str] = {}
        self.kind: dict[str, str] = {}
        self.planted: list[str] = []

    def add(self, path: str, text: str, kind: str) -> str:
        """Add a file; a clashing name gets a numeric suffix rather than overwriting."""
        if path in self.files:
            stem, dot, ext = path.rpartition(".")
            if "/" in ext or not dot:
                stem, ext = path, ""
            n = 2
            while f"{stem}-{n}{'.' + ext if ext else ''}" in self.files:
                n += 1
            path = f"{stem}-{n}{'.' + ext if ext else ''}"
        self.files[path] = text
        self.kind[path] = kind
        return path

    def plant(self, path: str, what: str) -> None:
        self.planted.append(f"{path}: {what}")

    def count(self, kind: str) -> int:
        return sum(1 for k in self.kind.values() if k == kind)


# -- small helpers ---------------------------------------------------------------------


def target_size(rng: random.Random) -> int:
    """Most files 0.3-5 KB (log-normal around 1.3 KB), a few up to 20 KB."""
    if rng.random() < 0.02:
        return rng.randint(5000, 20000)
    return int(min(5000, max(300, rng.lognormvariate(math.log(1300), 0.75))))


def sentence(rng: random.Random, words: int = 14) -> str:
    text = " ".join(rng.choice(PROSE) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def header(rng: random.Random, prefix: str = "#", lo: int = 60, hi: int = 600) -> str:
    """A comment block of ``lo``-``hi`` bytes: config files in real repos explain themselves."""
    size = rng.randint(lo, hi)
    lines = [f"{prefix} Managed by platform-team; changes go through review."]
    while sum(map(len, lines)) < size:
        lines.append(f"{prefix} {sentence(rng, rng.randint(6, 14))}")
    return "\n".join(lines) + "\n"


def name_pool(rng: random.Random, count: int) -> list[str]:
    """Unique ``word-word`` names, shuffled deterministically."""
    names = [f"{a}-{b}" for a in WORDS for b in WORDS if a != b]
    rng.shuffle(names)
    base, i = list(names), 2
    while len(names) < count:
        names += [f"{n}-{i}" for n in base]
        i += 1
    return names[:count]


def split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` buckets unevenly (real hosts differ), summing exactly."""
    if parts <= 0:
        return []
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = total / sum(weights)
    out = [int(w * scale) for w in weights]
    for i in range(total - sum(out)):
        out[i % parts] += 1
    return out


def yq(value: str) -> str:
    """Double-quote a YAML scalar."""
    return json.dumps(value)


# -- compose ---------------------------------------------------------------------------


class Project:
    """One compose project: services, the host ports already published, planted faults."""

    def __init__(self, rng: random.Random, name: str) -> None:
        self.rng = rng
        self.name = name
        # (port, protocol) -> the service binding it in the project's host namespace
        self.used_host: dict[tuple[int, str], str] = {}
        self.services: list[str] = []

    def free_host_port(self, port: int, owner: str, proto: str = "tcp") -> int:
        """The first port from ``port`` up that no service binds yet, now taken by ``owner``."""
        while (port, proto) in self.used_host:
            port += 1
        self.used_host[(port, proto)] = owner
        return port


def compose_service(p: Project, tree: Tree, path: str, lines: list[str], base_name: str) -> None:
    """Append one service; ports and users are realistic, a few services carry a planted fault."""
    rng = p.rng
    if rng.random() < 0.45:
        image, ports, user, short = rng.choice(IMAGES)
        name = short if short not in p.services else f"{short}-{len(p.services)}"
    else:
        name = base_name if base_name not in p.services else f"{base_name}-{rng.choice(WORDS)}"
        if name in p.services:
            name = f"{name}-{len(p.services)}"
        image = f"ghcr.io/acme/{name}:{rng.randint(1, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 9)}"
        ports = (rng.choice(APP_PORTS),)
        user = rng.choice((None, "1000", "1000:1000", "app", "65532:65532"))
    p.services.append(name)
    lines.append(f"  {name}:")
    if rng.random() < 0.3:
        lines.append("    <<: *defaults")
    lines.append(f"    image: {image}")
    if rng.random() < 0.25:
        lines.append(f"    container_name: {p.name}-{name}")
    lines.append("    restart: unless-stopped")
    host_net = rng.random() < 0.03
    if host_net:
        lines.append("    network_mode: host")
    fault = rng.random()
    if user is not None:
        lines.append(f"    user: {yq(user)}")
    if host_net:
        if fault < 0.35:
            # Planted: a non-root process on the host network binding a privileged port.
            if user is None:
                lines.append('    user: "101:101"')
            lines += ["    expose:", '      - "80"']
            tree.plant(path, f"PP001 {name}: non-root on network_mode host exposes 80")
            if (80, "tcp") in p.used_host:
                tree.plant(path, f"PP004 {name}: port 80 also bound by {p.used_host[(80, 'tcp')]}")
            p.used_host.setdefault((80, "tcp"), name)
        else:
            port = p.free_host_port(rng.choice((9100, 9113, 9187, 8080)), name)
            lines += ["    expose:", f'      - "{port}"']
    else:
        publish = rng.random() < 0.55
        if publish:
            lines.append("    ports:")
            clashed = False
            for cport in ports:
                r = rng.random()
                taken = sorted(k for k, owner in p.used_host.items() if owner != name and k[1] == "tcp")
                if fault < 0.012:
                    # Planted: a fixed host port inside the default ephemeral range.
                    hport = p.free_host_port(rng.randint(33000, 60000), name)
                    lines.append(f'      - "{hport}:{cport}"')
                    tree.plant(path, f"PP002 {name}: host port {hport} in the ephemeral range")
                elif fault < 0.024 and taken and not clashed:
                    # Planted: a host port another service of the project already publishes.
                    hport = taken[0][0]
                    lines.append(f'      - "{hport}:{cport}"')
                    tree.plant(
                        path, f"PP004 {name}: host port {hport} also published by {p.used_host[taken[0]]}"
                    )
                    clashed = True  # one clash per service is enough
                elif r < 0.55:
                    lines.append(
                        f'      - "{p.free_host_port(cport if cport > 1024 else cport + 8000, name)}:{cport}"'
                    )
                elif r < 0.7:
                    lines.append(f'      - "127.0.0.1:{p.free_host_port(cport, name)}:{cport}"')
                elif r < 0.8:
                    var = name.upper().replace("-", "_") + "_PORT"
                    lines.append(f'      - "${{{var}:-{p.free_host_port(cport, name)}}}:{cport}"')
                elif r < 0.85:
                    lines.append(f'      - "{cport}"')
                else:
                    hp = p.free_host_port(cport if cport > 1024 else cport + 8000, name)
                    lines += [
                        f"      - target: {cport}",
                        f"        published: {yq(str(hp))}",
                        "        protocol: tcp",
                        "        mode: host",
                    ]
            if rng.random() < 0.02:
                lines.append(f'      - "{p.free_host_port(5353, name, "udp")}:53/udp"')
        if not publish or rng.random() < 0.3:
            lines += ["    expose:"] + [f'      - "{c}"' for c in ports]
    if rng.random() < 0.08:
        lines += ["    cap_add:", f"      - {rng.choice(('NET_ADMIN', 'NET_BIND_SERVICE', 'SYS_PTRACE'))}"]
    if rng.random() < 0.12:
        lines += ["    cap_drop:", "      - ALL"]
    if not host_net and rng.random() < 0.07:
        lines.append("    sysctls:")
        lines.append("      net.core.somaxconn: 1024")
        if fault > 0.985:
            # Planted: same parity. Not PP002: no other program shares this container's namespace.
            lines.append('      net.ipv4.ip_local_port_range: "1024 65000"')
            tree.plant(path, f"PP009 {name}: container ip_local_port_range 1024 65000 (same parity)")
        else:
            lines.append("      net.ipv4.tcp_keepalive_time: 600")
    if rng.random() < 0.7:
        lines.append("    environment:")
        for word in rng.sample(WORDS, rng.randint(2, 9)):
            suffix, value = rng.choice(ENV_VALUES)
            key = f"{word.upper().replace('-', '_')}_{suffix}"
            lines.append(f"      {key}: {yq(value.replace('KEY', key))}")
        lines.append(f"      PORT: {yq(str(ports[0]))}")
    if rng.random() < 0.6:
        lines.append("    volumes:")
        for _ in range(rng.randint(1, 4)):
            lines.append(f"      - ./{rng.choice(WORDS)}:/srv/{rng.choice(WORDS)}:ro")
    if len(p.services) > 1 and rng.random() < 0.6:
        lines += ["    depends_on:", f"      - {rng.choice(p.services[:-1])}"]
    if rng.random() < 0.5:
        lines += [
            "    healthcheck:",
            f'      test: ["CMD", "wget", "-qO-", "http://localhost:{ports[0]}/healthz"]',
            "      interval: 10s",
            "      timeout: 3s",
            "      retries: 5",
        ]
    if rng.random() < 0.35:
        lines.append("    labels:")
        for k in range(rng.randint(2, 8)):
            lines.append(f'      traefik.http.routers.{name}-{k}.rule: "Host(`{name}.{p.name}.example.com`)"')
        lines.append(f'      traefik.http.services.{name}.loadbalancer.server.port: "{ports[0]}"')


def compose_file(
    tree: Tree, rng: random.Random, path: str, project: Project, services: int, kind: str = "compose"
) -> None:
    lines: list[str] = []
    if rng.random() < 0.4:
        lines += [f'version: "{rng.choice(("3.8", "3.9", "3"))}"', ""]
    if rng.random() < 0.3:
        lines += [f"name: {project.name}", ""]
    lines += [
        "x-defaults: &defaults",
        "  logging:",
        "    driver: json-file",
        "    options:",
        '      max-size: "10m"',
        "",
        "services:",
    ]
    for _ in range(services):
        compose_service(project, tree, path, lines, project.name.split("-")[0])
    if rng.random() < 0.5:
        lines += ["", "networks:", "  default:", f"    name: {project.name}"]
    if rng.random() < 0.4:
        lines += ["", "volumes:"] + [f"  {w}-data: {{}}" for w in rng.sample(WORDS, rng.randint(1, 3))]
    tree.add(path, "\n".join(lines) + "\n", kind)


def override_file(tree: Tree, rng: random.Random, path: str, project: Project) -> None:
    """A development override: debug ports and bind mounts for some of the base services."""
    lines = ["services:"]
    for svc in rng.sample(project.services, min(len(project.services), rng.randint(1, 3))):
        lines += [f"  {svc}:", "    environment:", '      DEBUG: "1"', "      LOG_LEVEL: debug"]
        if rng.random() < 0.6:
            debug = project.free_host_port(rng.choice((5678, 9229, 5005)), svc)
            lines += ["    ports:", f'      - "127.0.0.1:{debug}:{debug}"']
        lines += ["    volumes:", "      - ./src:/app/src"]
    tree.add(path, "\n".join(lines) + "\n", "override")


def gen_compose(tree: Tree, rng: random.Random, quota: dict[str, int]) -> list[str]:
    """``services/<name>/compose.yaml`` (+ overrides, swarm stack files); returns the project dirs."""
    names = name_pool(rng, quota["compose"])
    dirs: list[str] = []
    overrides = set(rng.sample(range(len(names)), min(len(names), quota["override"])))
    stacks = set(rng.sample(range(len(names)), min(len(names), quota["stack"])))
    for i, name in enumerate(names):
        d = f"services/{name}"
        dirs.append(d)
        project = Project(rng, name)
        big = rng.random() < 0.01
        n_services = rng.randint(15, 40) if big else min(12, max(1, int(rng.expovariate(0.4)) + 1))
        base = rng.choice(("compose.yaml", "compose.yaml", "docker-compose.yml", "compose.yml"))
        if i == 7:
            # Planted: a tab in the indentation, which YAML forbids (an unreadable-input finding).
            text = 'services:\n  web:\n\timage: nginx:1.27\n    ports:\n      - "8080:80"\n'
            tree.add(f"{d}/{base}", text, "compose")
            tree.plant(f"{d}/{base}", "PP000 YAML with a tab in the indentation")
            project.services.append("web")
        else:
            compose_file(tree, rng, f"{d}/{base}", project, n_services)
        if i in overrides:
            override_file(tree, rng, f"{d}/docker-compose.override.yml", project)
        if i in stacks:
            stack = Project(rng, name)
            compose_file(tree, rng, f"{d}/deploy/stack.yml", stack, rng.randint(1, 4), "stack")
    return dirs


# -- kubernetes and helm ---------------------------------------------------------------


def k8s_doc(rng: random.Random, app: str, ns: str) -> str:
    kind = rng.choice(
        ("Deployment", "Deployment", "Service", "ConfigMap", "Ingress", "StatefulSet", "CronJob")
    )
    port = rng.choice(APP_PORTS)
    labels = f"    app.kubernetes.io/name: {app}\n    app.kubernetes.io/part-of: {ns}\n"
    head = f"metadata:\n  name: {app}\n  namespace: {ns}\n  labels:\n{labels}"
    if kind == "Service":
        return (
            f"apiVersion: v1\nkind: Service\n{head}spec:\n  selector:\n    app.kubernetes.io/name: {app}\n"
            f"  ports:\n    - name: http\n      port: 80\n      targetPort: {port}\n      protocol: TCP\n"
        )
    if kind == "ConfigMap":
        data = "".join(
            f"  {w.upper().replace('-', '_')}: {yq(sentence(rng, 4))}\n" for w in rng.sample(WORDS, 8)
        )
        return f"apiVersion: v1\nkind: ConfigMap\n{head}data:\n{data}"
    if kind == "Ingress":
        return (
            f"apiVersion: networking.k8s.io/v1\nkind: Ingress\n{head}spec:\n  ingressClassName: nginx\n"
            f"  rules:\n    - host: {app}.{ns}.example.com\n      http:\n        paths:\n          - path: /\n"
            f"            pathType: Prefix\n            backend:\n              service:\n"
            f"                name: {app}\n                port:\n                  number: 80\n"
        )
    env = "".join(
        f"            - name: {w.upper().replace('-', '_')}_URL\n              value: http://{w}:{rng.choice(APP_PORTS)}\n"
        for w in rng.sample(WORDS, rng.randint(2, 10))
    )
    container = (
        f"        - name: {app}\n          image: ghcr.io/acme/{app}:{rng.randint(1, 9)}.{rng.randint(0, 30)}\n"
        f"          ports:\n            - containerPort: {port}\n              name: http\n"
        f"          env:\n{env}"
        f"          resources:\n            requests:\n              cpu: 100m\n              memory: 128Mi\n"
        f"          readinessProbe:\n            httpGet:\n              path: /healthz\n              port: http\n"
        f"          securityContext:\n            runAsNonRoot: true\n            runAsUser: 10001\n"
    )
    if kind == "CronJob":
        return (
            f'apiVersion: batch/v1\nkind: CronJob\n{head}spec:\n  schedule: "{rng.randint(0, 59)} 3 * * *"\n'
            f"  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n"
            f"          containers:\n{textwrap.indent(container, '    ')}"
        )
    return (
        f"apiVersion: apps/v1\nkind: {kind}\n{head}spec:\n  replicas: {rng.randint(1, 6)}\n  selector:\n"
        f"    matchLabels:\n      app.kubernetes.io/name: {app}\n  template:\n    metadata:\n      labels:\n"
        f"        app.kubernetes.io/name: {app}\n    spec:\n      containers:\n{container}"
    )


def crd_bundle(rng: random.Random, size: int) -> str:
    """A CustomResourceDefinition bundle: the usual 50-200 KB YAML files of a cluster repo."""
    docs: list[str] = []
    total = 0
    while total < size:
        group = f"{rng.choice(WORDS)}.acme.io"
        props = "".join(
            f"                {w.replace('-', '_')}:\n                  type: {rng.choice(('string', 'integer', 'boolean'))}\n"
            f"                  description: {yq(sentence(rng, 10))}\n"
            for w in rng.sample(WORDS, 25)
        )
        doc = (
            f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
            f"  name: {rng.choice(WORDS)}s.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n"
            f"  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n"
            f"        openAPIV3Schema:\n          type: object\n          properties:\n            spec:\n"
            f"              type: object\n              properties:\n{props}"
        )
        docs.append(doc)
        total += len(doc)
    return "---\n".join(docs)


def gen_k8s(tree: Tree, rng: random.Random, count: int, n_big: int) -> None:
    clusters = [f"{env}-{site}" for env in ENVS for site in SITES[:3]]
    made = 0
    for i in range(n_big):
        tree.add(
            f"k8s/{clusters[i % len(clusters)]}/crds/bundle-{i}.yaml",
            crd_bundle(rng, rng.randint(50_000, 200_000)),
            "k8s",
        )
        made += 1
    while made < count:
        cluster, ns = rng.choice(clusters), rng.choice(WORDS)
        if rng.random() < 0.08:
            resources = "".join(f"  - {w}.yaml\n" for w in rng.sample(WORDS, rng.randint(2, 6)))
            text = f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {ns}\nresources:\n{resources}"
            tree.add(f"k8s/{cluster}/{ns}/kustomization.yaml", text, "k8s")
        else:
            app = f"{ns}-{rng.choice(WORDS)}"
            docs = [k8s_doc(rng, app, ns) for _ in range(rng.randint(1, 4))]
            tree.add(f"k8s/{cluster}/{ns}/{app}.yaml", "---\n".join(docs), "k8s")
        made += 1


def gen_helm(tree: Tree, rng: random.Random, count: int) -> None:
    """Charts; their templates are Go templates, mostly not valid YAML, as in real repos."""
    made = 0
    for chart in name_pool(rng, count // 4 + 1):
        if made >= count:
            break
        d = f"charts/{chart}"
        port = rng.choice(APP_PORTS)
        files = {
            f"{d}/Chart.yaml": (
                f"apiVersion: v2\nname: {chart}\ndescription: {yq(sentence(rng, 12))}\ntype: application\n"
                f'version: 0.{rng.randint(1, 30)}.0\nappVersion: "1.{rng.randint(0, 9)}"\nkeywords:\n  - {chart}\n'
                "maintainers:\n  - name: platform-team\n    email: platform@acme.example\n"
            ),
            f"{d}/values.yaml": (
                f'replicaCount: 2\nimage:\n  repository: ghcr.io/acme/{chart}\n  tag: ""\nservice:\n  type: ClusterIP\n'
                f"  port: {port}\n"
                + "".join(
                    f"\n{header(rng, '#', 40, 400)}{w.replace('-', '_')}:\n  enabled: false\n  replicas: 1\n"
                    for w in rng.sample(WORDS, rng.randint(4, 20))
                )
            ),
            f"{d}/templates/deployment.yaml": (
                'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include "chart.fullname" . }}\n'
                '  labels:\n    {{- include "chart.labels" . | nindent 4 }}\nspec:\n'
                "  {{- if not .Values.autoscaling.enabled }}\n  replicas: {{ .Values.replicaCount }}\n  {{- end }}\n"
                "  template:\n    spec:\n      containers:\n        - name: {{ .Chart.Name }}\n"
                "          ports:\n            - containerPort: {{ .Values.service.port }}\n"
            ),
            f"{d}/templates/service.yaml": (
                'apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include "chart.fullname" . }}\nspec:\n'
                "  ports:\n    - port: {{ .Values.service.port }}\n      targetPort: http\n"
            ),
        }
        for path, text in files.items():
            if made < count:
                tree.add(path, text, "helm")
                made += 1
        helpers = "".join(
            f'{{{{/*\n{sentence(rng, 10)}\n*/}}}}\n{{{{- define "chart.{w}" -}}}}\n'
            f"{{{{ .Release.Name }}}}-{w}\n{{{{- end }}}}\n\n"
            for w in (
                "fullname",
                "labels",
                "selectorLabels",
                "serviceAccountName",
                *rng.sample(WORDS, rng.randint(0, 6)),
            )
        )
        tree.add(f"{d}/templates/_helpers.tpl", helpers, "other")


# -- ansible -------------------------------------------------------------------------------


def ansible_tasks(rng: random.Random, role: str) -> str:
    tasks: list[str] = []
    while sum(map(len, tasks)) < target_size(rng):
        kind = rng.random()
        if kind < 0.3:
            tasks.append(
                f'- name: Install {role} packages\n  ansible.builtin.apt:\n    name: "{{{{ {role}_packages }}}}"\n'
                "    state: present\n    update_cache: true\n"
            )
        elif kind < 0.55:
            tasks.append(
                f"- name: Template {role} config\n  ansible.builtin.template:\n    src: {role}.conf.j2\n"
                f'    dest: /etc/{role}/{role}.conf\n    mode: "0644"\n  notify: restart {role}\n'
            )
        elif kind < 0.7:
            tasks.append(
                f"- name: Open {role} port\n  community.general.ufw:\n    rule: allow\n"
                f'    port: "{{{{ {role}_port }}}}"\n    proto: tcp\n  when: {role}_firewall | bool\n'
            )
        elif kind < 0.85:
            tasks.append(
                '- name: Set kernel parameters\n  ansible.posix.sysctl:\n    name: "{{ item.key }}"\n'
                '    value: "{{ item.value }}"\n    sysctl_file: /etc/sysctl.d/90-ansible.conf\n'
                '  loop: "{{ sysctl_settings | dict2items }}"\n'
            )
        else:
            tasks.append(
                f"- name: Ensure {role} is running\n  ansible.builtin.systemd:\n    name: {role}\n"
                "    state: started\n    enabled: true\n    daemon_reload: true\n"
            )
    return "---\n" + "\n".join(tasks)


def gen_ansible(tree: Tree, rng: random.Random, count: int) -> list[str]:
    """Playbooks, roles, inventories with group_vars (some with ``!vault``); returns role dirs."""
    made = 0
    role_dirs: list[str] = []

    def add(path: str, text: str) -> None:
        nonlocal made
        if made < count:
            tree.add(path, text, "ansible")
            made += 1

    roles = name_pool(rng, max(4, count // 7))
    for env in ENVS:
        hosts = "".join(
            f"    {r}:\n      hosts:\n"
            + "".join(f"        {r}-{i:02d}.{env}.acme.internal:\n" for i in range(1, rng.randint(2, 6)))
            for r in ROLES
        )
        add(f"ansible/inventories/{env}/hosts.yml", f"all:\n  children:\n{hosts}")
        for r in ROLES:
            add(
                f"ansible/inventories/{env}/group_vars/{r}.yml",
                f"---\n{r.replace('-', '_')}_port: {rng.choice(APP_PORTS)}\nsysctl_settings:\n"
                '  net.core.somaxconn: 4096\n  net.ipv4.ip_local_port_range: "32768 60999"\n'
                f"ntp_servers:\n  - 0.pool.ntp.org\n  - 1.pool.ntp.org\nenv_name: {env}\n",
            )
            add(
                f"ansible/inventories/{env}/group_vars/{r}_vault.yml",
                f"---\nvault_{r.replace('-', '_')}_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n"
                + "".join(f"  {rng.getrandbits(256):064x}\n" for _ in range(rng.randint(3, 8))),
            )
    for role in roles:
        d = f"ansible/roles/{role}"
        role_dirs.append(d)
        short = role.replace("-", "_")
        add(f"{d}/tasks/main.yml", ansible_tasks(rng, short))
        handlers = "".join(
            f"\n- name: {verb} {short}\n  ansible.builtin.systemd:\n    name: {role}\n    state: {state}\n"
            for verb, state in (("restart", "restarted"), ("reload", "reloaded"), ("stop", "stopped"))
        )
        add(f"{d}/handlers/main.yml", f"---\n{header(rng)}{handlers}")
        defaults = "".join(
            f"\n# {sentence(rng, 8)}\n{short}_{w.replace('-', '_')}: {rng.choice(('true', 'false', '30', yq(w)))}\n"
            for w in rng.sample(WORDS, rng.randint(3, 20))
        )
        add(
            f"{d}/defaults/main.yml",
            f"---\n{header(rng)}{short}_port: {rng.choice(APP_PORTS)}\n{short}_firewall: true\n"
            f"{short}_packages:\n  - {role}\n{defaults}",
        )
        add(
            f"{d}/meta/main.yml",
            f"---\ngalaxy_info:\n  role_name: {short}\n  author: platform-team\n  description: {yq(sentence(rng, 10))}\n"
            '  license: proprietary\n  min_ansible_version: "2.15"\n  platforms:\n    - name: Debian\n'
            "      versions:\n        - bookworm\n    - name: Ubuntu\n      versions:\n        - jammy\n        - noble\n"
            "dependencies:\n" + "".join(f"  - role: {r}\n" for r in rng.sample(roles, rng.randint(0, 3))),
        )
        if rng.random() < 0.5:
            add(f"{d}/vars/main.yml", f"---\n{header(rng)}{short}_user: {short}\n{short}_home: /opt/{role}\n")
        if rng.random() < 0.5:
            add(f"{d}/tasks/config.yml", ansible_tasks(rng, short))
        tree.add(
            f"{d}/templates/{role}.conf.j2",
            f"# {{{{ ansible_managed }}}}\n{header(rng)}listen {{{{ {short}_port }}}}\n"
            + "".join(
                f"{w} {{{{ {short}_{w.replace('-', '_')} }}}}\n"
                for w in rng.sample(WORDS, rng.randint(3, 30))
            ),
            "other",
        )
        if rng.random() < 0.08:
            tree.add(
                f"{d}/templates/{role}.service.j2",
                f"[Unit]\nDescription={role}\n\n[Service]\nUser={{{{ {short}_user }}}}\n"
                f"ExecStart=/opt/{role}/bin/{role} --port {{{{ {short}_port }}}}\n\n[Install]\nWantedBy=multi-user.target\n",
                "other",
            )
        if rng.random() < 0.03:
            tree.add(
                f"{d}/templates/docker-compose.yml.j2",
                f"services:\n  {role}:\n    image: ghcr.io/acme/{role}:{{{{ {short}_version }}}}\n"
                f'    ports:\n      - "{{{{ {short}_port }}}}:8080"\n',
                "other",
            )
    roles_cycle = iter(range(10**9))
    while made < count:
        i = next(roles_cycle)
        play_roles = "".join(f"    - {r}\n" for r in rng.sample(roles, min(len(roles), rng.randint(1, 6))))
        add(
            f"ansible/playbooks/{rng.choice(ROLES)}-{i}.yml",
            f"---\n- name: Configure {rng.choice(ROLES)} hosts\n  hosts: {rng.choice(ROLES)}\n  become: true\n"
            f'  vars:\n    deploy_env: "{{{{ env_name }}}}"\n  roles:\n{play_roles}',
        )
    tree.add(
        "ansible/roles/sysctl/templates/sysctl.conf.j2",
        "# {{ ansible_managed }}\n{% for key, value in sysctl_settings.items() %}\n{{ key }} = {{ value }}\n{% endfor %}\n",
        "other",
    )
    return role_dirs


# -- workflows and miscellaneous YAML ----------------------------------------------------------


def gen_workflows(tree: Tree, rng: random.Random, count: int, service_dirs: list[str]) -> None:
    for i in range(count):
        svc = service_dirs[i % len(service_dirs)].split("/")[-1] if service_dirs else f"job{i}"
        services = ""
        if rng.random() < 0.4:
            services = (
                "    services:\n      postgres:\n        image: postgres:16\n        ports:\n"
                "          - 5432:5432\n        env:\n          POSTGRES_PASSWORD: postgres\n"
            )
        text = (
            f"name: {svc}\n\non:\n  push:\n    paths:\n      - services/{svc}/**\n  pull_request:\n\n"
            f"jobs:\n  test:\n    runs-on: ubuntu-latest\n{services}    steps:\n      - uses: actions/checkout@v4\n"
            '      - uses: actions/setup-python@v5\n        with:\n          python-version: "3.11"\n'
            f"      - run: make -C services/{svc} test\n"
        )
        tree.add(f".github/workflows/{svc}.yml", text, "workflow")


def gen_misc_yaml(tree: Tree, rng: random.Random, count: int, service_dirs: list[str]) -> None:
    """Backstage catalog entries, OpenAPI specs, tool configs: YAML no reader wants."""
    fixed = {
        ".pre-commit-config.yaml": (
            "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n    rev: v0.5.0\n    hooks:\n      - id: ruff\n"
        ),
        "mkdocs.yml": "site_name: Platform\nnav:\n  - Home: index.md\n",
        ".github/dependabot.yml": (
            "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule:\n      interval: weekly\n"
        ),
    }
    made = 0
    for path, text in fixed.items():
        tree.add(path, text, "misc_yaml")
        made += 1
    i = 0
    while made < count:
        d = service_dirs[i % len(service_dirs)] if service_dirs else f"misc/{i}"
        if rng.random() < 0.8:
            text = (
                f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {d.split('/')[-1]}\n"
                f"  description: {yq(sentence(rng, 8))}\nspec:\n  type: service\n  lifecycle: production\n"
                f"  owner: team-{rng.choice(WORDS)}\n"
            )
            tree.add(f"{d}/catalog-info.yaml", text, "misc_yaml")
        else:
            paths = "".join(
                f"  /{w}:\n    get:\n      summary: {yq(sentence(rng, 6))}\n      responses:\n"
                f'        "200":\n          description: OK\n'
                for w in rng.sample(WORDS, rng.randint(3, 30))
            )
            tree.add(
                f"{d}/openapi.yaml",
                f"openapi: 3.0.3\ninfo:\n  title: {d}\n  version: 1.0.0\npaths:\n{paths}",
                "misc_yaml",
            )
        made += 1
        i += 1


# -- hosts: systemd and sysctl ---------------------------------------------------------------


TIMER = (
    "[Unit]\nDescription=nightly backup\n\n[Timer]\nOnCalendar=*-*-* 02:30\nPersistent=true\n\n"
    "[Install]\nWantedBy=timers.target\n"
)


def unit_service(
    rng: random.Random,
    name: str,
    user: str | None,
    execstart: str,
    extra: str = "",
    port_env: int | None = None,
) -> str:
    env = f"Environment=PORT={port_env}\n" if port_env else ""
    env += "".join(
        f"Environment={w.upper().replace('-', '_')}_URL=http://{w}.internal\n"
        for w in rng.sample(WORDS, rng.randint(0, 4))
    )
    user_line = f"User={user}\nGroup={user}\n" if user else ""
    hardening = ""
    if rng.random() < 0.6:
        hardening = (
            "".join(f"{h}\n" for h in HARDENING[: rng.randint(4, len(HARDENING))])
            + f"ReadWritePaths=/var/lib/{name}\n"
        )
    return (
        f"{header(rng, '#', 0, 400)}[Unit]\nDescription={name} ({sentence(rng, 5)[:-1]})\n"
        f"Documentation=https://wiki.acme.internal/services/{name}\nAfter=network-online.target\n"
        f"Wants=network-online.target\n\n[Service]\nType={rng.choice(('simple', 'notify', 'exec'))}\n{user_line}{env}"
        f"ExecStart={execstart}\n{extra}Restart=on-failure\nRestartSec=5\nLimitNOFILE=65536\n{hardening}\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def unit_socket(rng: random.Random, name: str, listen: str) -> str:
    return (
        f"{header(rng, '#', 0, 300)}[Unit]\nDescription={name} socket\nPartOf={name}.service\n\n"
        f"[Socket]\nListenStream={listen}\nBacklog=512\nNoDelay=true\nReusePort=false\n\n"
        "[Install]\nWantedBy=sockets.target\n"
    )


HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes",
    "RestrictRealtime=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "CapabilityBoundingSet=",
)


def dropin(rng: random.Random, body: str) -> str:
    return f"{header(rng, '#', 40, 300)}[Service]\n{body}"


EXPORTERS = (
    (
        "node_exporter",
        "/usr/local/bin/node_exporter --web.listen-address=:9100 --collector.systemd",
        "node_exporter",
    ),
    ("promtail", "/usr/local/bin/promtail -config.file=/etc/promtail/config.yml", "promtail"),
)
ROLE_UNITS: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    # (unit, ExecStart or "" for a drop-in on a packaged unit, User)
    "web": (("nginx", "", None), ("php8.2-fpm", "", None)),
    "db": (
        ("pgbouncer", "/usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer.ini", "postgres"),
        ("postgres_exporter", "/usr/local/bin/postgres_exporter --web.listen-address=:9187", "postgres"),
    ),
    "cache": (
        ("memcached", "/usr/bin/memcached -p 11211 -U 0 -u memcache -m 1024", "memcache"),
        ("redis-server", "", None),
    ),
    "lb": (("haproxy", "", None), ("keepalived", "/usr/sbin/keepalived --dont-fork", None)),
    "monitor": (
        ("prometheus", "/usr/local/bin/prometheus --web.listen-address=0.0.0.0:9090", "prometheus"),
        ("alertmanager", "/usr/local/bin/alertmanager --web.listen-address=:9093", "prometheus"),
        ("loki", "/usr/local/bin/loki -config.file=/etc/loki/config.yml", "loki"),
    ),
    "dns": (("coredns", "/usr/local/bin/coredns -conf /etc/coredns/Corefile -dns.port=53", "coredns"),),
    "ci": (("actions-runner", "/opt/actions-runner/run.sh", "runner"),),
    "mail": (("postfix", "", None),),
    "app": (),
    "worker": (),
    "k8s-node": (("kubelet", "", None), ("containerd", "", None)),
}


SYSCTL_EXTRAS: tuple[tuple[str, list[tuple[str, str]]], ...] = (
    ("40-vm.conf", [("vm.swappiness", "10"), ("vm.max_map_count", "262144"), ("vm.overcommit_memory", "1")]),
    ("50-fs.conf", [("fs.file-max", "2097152"), ("fs.inotify.max_user_watches", "524288")]),
    ("60-kernel.conf", [("kernel.pid_max", "4194304"), ("kernel.panic", "10"), ("kernel.sysrq", "0")]),
    ("70-k8s.conf", [("net.ipv4.ip_forward", "1"), ("net.bridge.bridge-nf-call-iptables", "1")]),
    ("80-conntrack.conf", [("net.netfilter.nf_conntrack_max", "1048576")]),
    ("85-ipv6.conf", [("net.ipv6.conf.all.disable_ipv6", "0"), ("net.ipv6.conf.default.accept_ra", "0")]),
    ("95-local.conf", [("net.ipv4.tcp_keepalive_time", "300"), ("net.ipv4.tcp_keepalive_intvl", "30")]),
)


def sysctl_text(rng: random.Random, pairs: list[tuple[str, str]]) -> str:
    """``key = value`` lines, most with a comment saying why, under a header."""
    lines = [header(rng, "#", 40, 300)]
    for key, value in pairs:
        if rng.random() < 0.7:
            lines.append(f"\n# {sentence(rng, rng.randint(6, 16))}\n")
        lines.append(f"{key} = {value}\n")
    return "".join(lines)


def gen_host(
    tree: Tree, rng: random.Random, host: str, role: str, n_units: int, n_sysctl: int, faults: set[str]
) -> None:
    """One ``hosts/<host>`` root-filesystem tree with ``n_units`` unit files and ``n_sysctl`` sysctl files."""
    base = f"hosts/{host}/etc"
    sysd = f"{base}/systemd/system"
    files: list[tuple[str, str]] = []
    notes: list[tuple[str, str]] = []  # planted faults, recorded only if their file is written
    for name, cmd, user in EXPORTERS:
        files.append((f"{sysd}/{name}.service", unit_service(rng, name, user, cmd)))
    for name, cmd, owner in ROLE_UNITS[role]:
        if cmd:
            extra = "AmbientCapabilities=CAP_NET_BIND_SERVICE\n" if name == "coredns" else ""
            files.append((f"{sysd}/{name}.service", unit_service(rng, name, owner, cmd, extra)))
        else:
            files.append(
                (
                    f"{sysd}/{name}.service.d/override.conf",
                    dropin(
                        rng,
                        f"LimitNOFILE={rng.choice((65536, 131072, 1048576))}\nRestart=always\nRestartSec=2\n",
                    ),
                )
            )
    files.append(
        (f"{sysd}/backup.service", unit_service(rng, "backup", "backup", "/usr/local/bin/backup.sh"))
    )
    files.append((f"{sysd}/backup.timer", TIMER))
    used: set[int] = set()
    k = 0
    while len(files) < n_units:
        app = f"acme-{rng.choice(WORDS)}"
        if any(f"/{app}." in p for p, _ in files):
            app = f"{app}-{k}"
        k += 1
        port = rng.choice((8000, 8001, 8080, 8081, 8443, 9000, 9292, 3000, 4000, 5000, 7000, 7070))
        while port in used:
            port += 10
        used.add(port)
        if "PP001" in faults:
            faults.discard("PP001")
            cmd = f"/opt/{app}/bin/server --listen 0.0.0.0:443"
            files.append((f"{sysd}/{app}.service", unit_service(rng, app, "acme", cmd)))
            note = "not modelled (ExecStart ports are not read): User=acme binds 443 in ExecStart"
            notes.append((f"{sysd}/{app}.service", note))
            # A socket of the (unprivileged) per-user manager on 443: the kernel refuses it.
            user_socket = f"{base}/systemd/user/{app}-dev.socket"
            files.append((user_socket, unit_socket(rng, f"{app}-dev", "443")))
            notes.append((user_socket, "PP001 user-manager socket ListenStream=443"))
            continue
        if "PP002" in faults:
            faults.discard("PP002")
            files.append((f"{sysd}/{app}.socket", unit_socket(rng, app, "0.0.0.0:41000")))
            notes.append((f"{sysd}/{app}.socket", "PP002 ListenStream=41000 in the default ephemeral range"))
            continue
        if "PP004" in faults:
            faults.discard("PP004")
            # Two socket units on one port: the second fails with EADDRINUSE at boot.
            for unit in (f"{app}-a", f"{app}-b"):
                files.append((f"{sysd}/{unit}.socket", unit_socket(rng, unit, str(port))))
            notes.append((f"{sysd}/{app}-b.socket", f"PP004 ListenStream={port} also in {app}-a.socket"))
            continue
        if "PP005" in faults:
            faults.discard("PP005")
            files.append((f"{sysd}/{app}.socket", unit_socket(rng, app, "70000")))
            notes.append((f"{sysd}/{app}.socket", "PP005 ListenStream=70000"))
            continue
        style = rng.random()
        if style < 0.35:
            files.append(
                (
                    f"{sysd}/{app}.socket",
                    unit_socket(rng, app, f"0.0.0.0:{port}" if rng.random() < 0.5 else str(port)),
                )
            )
            files.append(
                (
                    f"{sysd}/{app}.service",
                    unit_service(rng, app, "acme", f"/opt/{app}/bin/server --systemd-socket"),
                )
            )
        elif style < 0.75:
            cmd = f"/opt/{app}/bin/server --port {port}"
            files.append((f"{sysd}/{app}.service", unit_service(rng, app, "acme", cmd, port_env=port)))
        else:
            cmd = f"/opt/{app}/venv/bin/gunicorn --bind 127.0.0.1:{port} app:wsgi"
            files.append((f"{sysd}/{app}.service", unit_service(rng, app, "acme", cmd)))
        if rng.random() < 0.4:
            files.append(
                (
                    f"{sysd}/{app}.service.d/override.conf",
                    dropin(
                        rng,
                        f"Environment=LOG_LEVEL={rng.choice(('info', 'debug', 'warn'))}\n"
                        f"MemoryMax={rng.choice((512, 1024, 2048))}M\n",
                    ),
                )
            )
    for path, text in files[:n_units]:
        tree.add(path, text, "systemd")
        tree.planted.extend(f"{p}: {what}" for p, what in notes if p == path)

    sysd_files: list[tuple[str, str]] = []
    port_range = "32768 60999"
    if "PP009" in faults:
        port_range = "10000 65000"
        notes.append(
            (f"{base}/sysctl.d/10-network.conf", "PP009 ip_local_port_range 10000 65000 (same parity)")
        )
    elif "PP006" in faults:
        port_range = "60999 32768"
        notes.append((f"{base}/sysctl.d/10-network.conf", "PP006 ip_local_port_range 60999 32768 (inverted)"))
    elif "WIDE" in faults:
        port_range = "1024 65535"
        notes.append(
            (
                f"{base}/sysctl.d/10-network.conf",
                "PP002 ip_local_port_range 1024 65535: expected at this host's socket units",
            )
        )
    net = [
        ("net.core.somaxconn", "4096"),
        ("net.core.netdev_max_backlog", "16384"),
        ("net.ipv4.ip_local_port_range", port_range),
        ("net.ipv4.tcp_fin_timeout", "15"),
        ("net.ipv4.tcp_tw_reuse", "1"),
        ("net.ipv4.tcp_max_syn_backlog", "8192"),
    ]
    sysd_files.append((f"{base}/sysctl.d/10-network.conf", sysctl_text(rng, net)))
    reserved = ",".join(str(p) for p in sorted(used)[:4]) or "9100"
    sysd_files.append(
        (
            f"{base}/sysctl.d/20-reserved-ports.conf",
            sysctl_text(rng, [("net.ipv4.ip_local_reserved_ports", f"9100,{reserved}")]),
        )
    )
    unpriv = "1024"
    if "PP008" in faults:
        unpriv = "80"
        notes.append((f"{base}/sysctl.d/30-security.conf", "PP008 ip_unprivileged_port_start lowered to 80"))
    security = [
        ("kernel.kptr_restrict", "2"),
        ("kernel.dmesg_restrict", "1"),
        ("net.ipv4.conf.all.rp_filter", "1"),
        ("net.ipv4.ip_unprivileged_port_start", unpriv),
        ("fs.protected_hardlinks", "1"),
    ]
    sysd_files.append((f"{base}/sysctl.d/30-security.conf", sysctl_text(rng, security)))
    if "PP007" in faults:
        sysd_files.append(
            (f"{base}/sysctl.d/90-app.conf", sysctl_text(rng, [("net.ipv4.ip_local_reserved_ports", "7000")]))
        )
        notes.append((f"{base}/sysctl.d/90-app.conf", "PP007 reserved ports overwritten by a later file"))
    for i, (name, pairs) in enumerate(SYSCTL_EXTRAS):
        if len(sysd_files) >= n_sysctl:
            break
        sysd_files.append((f"{base}/sysctl.d/{name}", sysctl_text(rng, pairs)))
        if i == len(SYSCTL_EXTRAS) - 1:
            sysd_files.append((f"{base}/sysctl.conf", sysctl_text(rng, pairs)))
    for path, text in sysd_files[:n_sysctl]:
        tree.add(path, text, "sysctl")
        tree.planted.extend(f"{p}: {what}" for p, what in notes if p == path)


def gen_hosts(tree: Tree, rng: random.Random, n_systemd: int, n_sysctl: int) -> list[str]:
    count = max(2, round(n_systemd / 20))
    units = split(rng, n_systemd, count)
    sysctls = split(rng, n_sysctl, count)
    dirs: list[str] = []
    planted = ("PP001", "PP002", "PP004", "PP005", "PP006", "PP007", "PP008", "PP009", "WIDE")
    # Each fault on two hosts (when there are enough): a small share of all hosts.
    chosen = sorted(rng.sample(range(count), min(count, len(planted) * 2)))
    fault_hosts = {i: planted[j % len(planted)] for j, i in enumerate(chosen)}
    for i in range(count):
        env, site, role = ENVS[i % len(ENVS)], rng.choice(SITES), rng.choice(ROLES)
        host = f"{role}-{i:03d}.{site}.{env}"
        dirs.append(f"hosts/{host}")
        gen_host(tree, rng, host, role, units[i], sysctls[i], {fault_hosts[i]} if i in fault_hosts else set())
    return dirs


# -- README, Python, shell, JSON, other ------------------------------------------------------


def text_md(rng: random.Random, title: str) -> str:
    size = target_size(rng)
    parts = [f"# {title}\n\n{sentence(rng, 20)}\n"]
    while sum(map(len, parts)) < size:
        r = rng.random()
        if r < 0.5:
            parts.append(f"\n{sentence(rng, rng.randint(10, 40))} {sentence(rng, 12)}\n")
        elif r < 0.7:
            parts.append(f"\n## {rng.choice(WORDS).title()}\n")
        elif r < 0.85:
            parts.append(
                f"\n```sh\ndocker compose up -d\ncurl -fsS http://localhost:{rng.choice(APP_PORTS)}/healthz\n```\n"
            )
        else:
            rows = "".join(
                f"| {rng.choice(WORDS)} | {rng.choice(APP_PORTS)} | tcp |\n" for _ in range(rng.randint(2, 6))
            )
            parts.append(f"\n| service | port | protocol |\n|---|---|---|\n{rows}")
    return "".join(parts)


def text_py(rng: random.Random, module: str) -> str:
    size = target_size(rng)
    parts = [
        f'"""{sentence(rng, 8)}"""\n\nfrom __future__ import annotations\n\nimport logging\nimport os\n\n'
        f'LOG = logging.getLogger({module!r})\nDEFAULT_PORT = int(os.environ.get("PORT", "{rng.choice(APP_PORTS)}"))\n'
    ]
    i = 0
    while sum(map(len, parts)) < size:
        w = rng.choice(WORDS).replace("-", "_")
        parts.append(
            f'\n\ndef {w}_{i}(value: str, retries: int = 3) -> str:\n    """{sentence(rng, 9)}"""\n'
            f'    for attempt in range(retries):\n        LOG.debug("{w} attempt %d", attempt)\n'
            f"        if value.startswith({w!r}):\n            return value[{len(w)}:]\n    return value\n"
        )
        i += 1
    return "".join(parts)


def text_sh(rng: random.Random, name: str) -> str:
    size = target_size(rng)
    parts = [
        f"#!/usr/bin/env bash\n# {sentence(rng, 8)}\nset -euo pipefail\n\n"
        f"SERVICE={name}\nPORT=${{PORT:-{rng.choice(APP_PORTS)}}}\n"
    ]
    while sum(map(len, parts)) < size:
        w = rng.choice(WORDS).replace("-", "_")
        parts.append(
            f'\n{w}() {{\n  echo "[{w}] $*" >&2\n  systemctl is-active --quiet "$SERVICE" || systemctl restart "$SERVICE"\n'
            f'  curl -fsS --retry 3 "http://127.0.0.1:${{PORT}}/{w}" >/dev/null\n}}\n'
        )
    return "".join(parts)


def text_json(rng: random.Random, name: str) -> str:
    size = target_size(rng)
    r = rng.random()
    if r < 0.3:
        doc: dict[str, object] = {
            "name": f"@acme/{name}",
            "version": f"1.{rng.randint(0, 40)}.0",
            "private": True,
            "scripts": {"start": f"node server.js --port {rng.choice(APP_PORTS)}", "test": "vitest"},
            "dependencies": {
                w: f"^{rng.randint(1, 9)}.{rng.randint(0, 20)}.0" for w in rng.sample(WORDS, 10)
            },
        }
    elif r < 0.6:
        doc = {
            "listen": f"0.0.0.0:{rng.choice(APP_PORTS)}",
            "upstreams": [],
            "timeouts": {"read": 30, "write": 30},
        }
    else:
        doc = {"title": f"{name} dashboard", "panels": [], "schemaVersion": 39}
    key = "upstreams" if "upstreams" in doc else "panels" if "panels" in doc else "dependencies"
    while len(json.dumps(doc, indent=2)) < size:
        w = rng.choice(WORDS)
        if key == "dependencies":
            deps = doc["dependencies"]
            assert isinstance(deps, dict)
            deps[f"{w}-{len(deps)}"] = f"^{rng.randint(1, 9)}.0.0"
        else:
            items = doc[key]
            assert isinstance(items, list)
            items.append(
                {
                    "id": len(items),
                    "title": w,
                    "target": f"{w}:{rng.choice(APP_PORTS)}",
                    "note": sentence(rng, 6),
                }
            )
    return json.dumps(doc, indent=2) + "\n"


def gen_plain(
    tree: Tree,
    rng: random.Random,
    quota: dict[str, int],
    service_dirs: list[str],
    host_dirs: list[str],
    role_dirs: list[str],
) -> None:
    """README, Python, shell, JSON and other files, where a monorepo keeps them."""
    tools = [f"tools/{w}" for w in rng.sample(WORDS, 12)]
    places: dict[str, list[tuple[list[str], str]]] = {
        "md": [
            (service_dirs, ""),
            (tools, ""),
            (host_dirs, ""),
            ([f"docs/{w}" for w in WORDS], ""),
            (role_dirs, ""),
        ],
        "py": [
            (service_dirs, "/app"),
            (service_dirs, "/app/handlers"),
            (service_dirs, "/tests"),
            (tools, ""),
        ],
        "sh": [
            (service_dirs, "/scripts"),
            (["scripts"], ""),
            (role_dirs, "/files"),
            (host_dirs, "/usr/local/bin"),
        ],
        "json": [(service_dirs, ""), (service_dirs, "/config"), (["dashboards"], ""), (tools, "")],
        "other": [(service_dirs, ""), (role_dirs, "/templates"), (tools, "")],
    }
    makers: dict[str, Callable[[random.Random, str], str]] = {
        "md": text_md,
        "py": text_py,
        "sh": text_sh,
        "json": text_json,
    }
    for kind in ("md", "sh", "json", "other", "py"):
        n = quota[kind] - tree.count(kind) if kind != "py" else quota["total"] - len(tree.files)
        for _ in range(max(0, n)):
            pool, sub = rng.choice(places[kind])
            d = (rng.choice(pool) if pool else "misc") + sub
            stem = d.rstrip("/").split("/")[-1] if kind == "md" else f"{rng.choice(WORDS).replace('-', '_')}"
            if kind == "md":
                name = "README.md"
                if f"{d}/{name}" in tree.files:
                    name = (
                        f"{rng.choice(('RUNBOOK', 'CHANGELOG', 'CONTRIBUTING', 'architecture', 'oncall'))}.md"
                    )
                tree.add(f"{d}/{name}", text_md(rng, stem), "md")
            elif kind == "other":
                name, text = text_other(rng)
                tree.add(f"{d}/{name}", text, "other")
            else:
                tree.add(f"{d}/{stem}.{kind}", makers[kind](rng, stem), kind)


def text_other(rng: random.Random) -> tuple[str, str]:
    """A Dockerfile, ``.env.example``, pinned requirements or an nginx snippet."""
    port = rng.choice(APP_PORTS)
    r = rng.random()
    if r < 0.3:
        return "Dockerfile", (
            f"{header(rng)}FROM python:3.11-slim AS build\nWORKDIR /src\nCOPY requirements.txt .\n"
            "RUN pip wheel --wheel-dir /wheels -r requirements.txt\n\nFROM python:3.11-slim\n"
            "RUN useradd --uid 10001 --no-create-home app\nCOPY --from=build /wheels /wheels\n"
            "RUN pip install --no-cache-dir /wheels/*\nCOPY . /app\nUSER app\n"
            f'EXPOSE {port}\nCMD ["gunicorn", "--bind", "0.0.0.0:{port}", "app:wsgi"]\n'
        )
    if r < 0.55:
        env = "".join(
            f"{w.upper().replace('-', '_')}_URL=http://{w}:{rng.choice(APP_PORTS)}\n"
            for w in rng.sample(WORDS, rng.randint(5, 25))
        )
        return ".env.example", f"{header(rng)}PORT={port}\nLOG_LEVEL=info\n{env}"
    if r < 0.8:
        reqs = "".join(
            f"{w}=={rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}\n"
            for w in rng.sample(WORDS, rng.randint(8, 40))
        )
        return "requirements.txt", reqs
    locations = "".join(
        f"    location /{w}/ {{\n        proxy_pass http://127.0.0.1:{rng.choice(APP_PORTS)};\n"
        "        proxy_set_header Host $host;\n    }\n"
        for w in rng.sample(WORDS, rng.randint(2, 15))
    )
    return "nginx.conf", f"{header(rng)}server {{\n    listen {port};\n{locations}}}\n"


# -- driver ------------------------------------------------------------------------------------


def build(files: int, seed: int) -> Tree:
    rng = random.Random(seed)
    tree = Tree(rng)
    quota = {k: max(1, round(files * share)) for k, share in SHARES.items()}
    quota["total"] = files
    n_big = max(2, files // 2000)
    service_dirs = gen_compose(tree, rng, quota)
    gen_k8s(tree, rng, quota["k8s"], n_big)
    gen_helm(tree, rng, quota["helm"])
    role_dirs = gen_ansible(tree, rng, quota["ansible"])
    gen_workflows(tree, rng, quota["workflow"], service_dirs)
    gen_misc_yaml(tree, rng, quota["misc_yaml"], service_dirs)
    host_dirs = gen_hosts(tree, rng, quota["systemd"], quota["sysctl"])
    gen_plain(tree, rng, quota, service_dirs, host_dirs, role_dirs)
    return tree


def write(tree: Tree, outdir: str) -> int:
    """Write every file (and a tiny ``.git`` the tools must skip); returns bytes written."""
    total = 0
    made: set[str] = set()
    for rel in sorted(tree.files):
        path = os.path.join(outdir, rel)
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        data = tree.files[rel].encode("utf-8")
        with open(path, "wb") as fh:
            fh.write(data)
        total += len(data)
    git = os.path.join(outdir, ".git")
    os.makedirs(git, exist_ok=True)
    git_files = (
        ("HEAD", "ref: refs/heads/main\n"),
        ("config", "[core]\n\tbare = false\n"),
        ("compose.yaml", "services: {}\n"),
    )
    for name, text in git_files:
        with open(os.path.join(git, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    with open(os.path.join(outdir, "PLANTED.txt"), "w", encoding="utf-8") as fh:
        fh.write("".join(f"{line}\n" for line in tree.planted))
    return total


def summary(tree: Tree, total_bytes: int) -> dict[str, object]:
    kinds: dict[str, int] = {}
    for kind in tree.kind.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    sizes = sorted(len(t) for t in tree.files.values())
    yaml = sum(kinds.get(k, 0) for k in YAML_KINDS)
    return {
        "files": len(tree.files) + 1,  # + PLANTED.txt
        "bytes": total_bytes,
        "yaml_share": round(yaml / len(tree.files), 3),
        "by_kind": dict(sorted(kinds.items())),
        "size_p10_p50_p90_max": [
            sizes[len(sizes) // 10],
            sizes[len(sizes) // 2],
            sizes[len(sizes) * 9 // 10],
            sizes[-1],
        ],
        "files_over_50k": sum(1 for s in sizes if s > 50_000),
        "planted": len(tree.planted),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a synthetic infra monorepo for benchmarking portpolicy."
    )
    parser.add_argument("outdir")
    parser.add_argument("--files", type=int, default=20000, help="about how many files (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.files < 200:
        parser.error("--files must be at least 200")
    if os.path.exists(args.outdir) and os.listdir(args.outdir):
        parser.error(f"{args.outdir} exists and is not empty")
    tree = build(args.files - 1, args.seed)  # PLANTED.txt is the last file
    total = write(tree, args.outdir)
    json.dump(summary(tree, total), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
