"""``docker run`` / ``podman run`` / ``nerdctl run`` command lines as containers (issue #25 item 4).

The parser's spellings are checked on words; what a user sees is checked through the CLI on
small host trees: a unit's ``ExecStart=``, a provisioning script and an Ansible task, each with
a negative twin that must stay silent.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from portpolicy.model import Fact, KernelSetting, Listener, Location, NetnsDecl, ParseError, Unresolved
from portpolicy.readers import containerrun
from portpolicy.readers.containerrun import Invoker, Reads
from tests.helpers import run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

UFW_DENY = {
    "etc/default/ufw": 'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n',
    "etc/ufw/user.rules": "*filter\n:ufw-user-input - [0:0]\n"
    "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n"
    "-A ufw-user-input -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
}


def redis_unit(publish: str) -> str:
    return (
        "[Unit]\nDescription=Redis cache (container)\nAfter=docker.service\nRequires=docker.service\n\n"
        "[Service]\nTimeoutStartSec=0\nExecStartPre=-/usr/bin/docker rm -f redis\n"
        f"ExecStart=/usr/bin/docker run --rm --name redis \\\n    -p {publish} \\\n    redis:7\n"
        "ExecStop=/usr/bin/docker stop redis\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n"
    )


def line_words(text: str, line: int = 1) -> list[Fact]:
    reads = Reads("run.sh")
    reads.line(text, lambda at: Location("run.sh", line, at + 1))
    return reads.found


def listeners(text: str) -> list[tuple[str, str, int, str, str]]:
    """(service, bound_by, port, netns, address) of every listener one line gives."""
    return sorted(
        (f.service, f.bound_by, f.ports.start, f.netns, str(f.address))
        for f in line_words(text)
        if isinstance(f, Listener)
    )


def findings(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, str, int]]:
    write_tree(tmp_path, files)
    run = run_cli("check", "--format", "json", "--fail-on", "never", ".", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return sorted((f["rule"], f["path"], f["line"]) for f in json.loads(run.stdout)["findings"])


# -- spellings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "docker run -d --name web -p 8080:80 nginx:1.27",
        "docker run -d --name web --publish 8080:80 nginx:1.27",
        "docker run -d --name web -p=8080:80 nginx:1.27",
        "docker run -d --name web --publish=8080:80 nginx:1.27",
        "docker run --name web -dp 8080:80 nginx:1.27",
        "docker run --name web -p8080:80 -d nginx:1.27",
        "docker container run --name=web -p 8080:80 nginx:1.27",
        "docker create --name web -p 8080:80 nginx:1.27",
        "/usr/bin/docker --log-level warn -H unix:///run/docker.sock run --name web -p 8080:80 nginx:1.27",
        "sudo -u deploy docker run --name web -p 8080:80 nginx:1.27",
        "DOCKER_HOST=unix:///run/docker.sock exec docker run --name web -p 8080:80 nginx:1.27",
        "nerdctl -n default run --name web -p 8080:80 nginx:1.27",
        "docker run --name web -p published=8080,target=80 nginx:1.27",
        "sh -c 'docker run --name web -p 8080:80 nginx:1.27'",
    ],
)
def test_every_spelling_of_a_published_port(line: str) -> None:
    assert listeners(line) == [
        ("web", "process", 80, "container:web", "*"),
        ("web", "runtime", 8080, "host", "*"),
    ]


def test_value_flags_are_passed_over_to_find_the_image_and_its_command() -> None:
    line = (
        "docker run -d --restart unless-stopped -v /srv/prom:/prometheus -w /prometheus --log-opt max-size=10m "
        "-l app=metrics --name prom -h metrics prom/prometheus --web.listen-address=:9091"
    )
    assert listeners(line) == [("prom", "process", 9091, "container:prom", "*")]


def test_network_user_capabilities_sysctls_privileged() -> None:
    found = line_words(
        "docker run --net=host -u 1000:1000 --cap-add NET_BIND_SERVICE --cap-drop=ALL "
        "--sysctl net.ipv4.ip_unprivileged_port_start=0 --privileged --expose 443 --name edge traefik:v3.1"
    )
    # --expose 443, and traefik's built-in :80 (the image's program, data/apps.yml)
    process, default = [f for f in found if isinstance(f, Listener)]
    assert (process.netns, process.ports.start, process.container) == ("host", 443, "edge")
    assert (default.ports.start, default.program, default.port_assumed) == (80, "traefik", True)
    assert process.run_as.user == "1000:1000"
    assert process.run_as.added == {"NET_BIND_SERVICE", "ALL"} and process.run_as.dropped == {"ALL"}
    assert process.evidence[0].message.startswith("--network host")
    # the host's network: no namespace of its own, so its sysctl is not the container's
    assert not [f for f in found if isinstance(f, (NetnsDecl, KernelSetting))]
    own = line_words("podman run --sysctl net.ipv4.ip_unprivileged_port_start=80 --name api api:1")
    (setting,) = [f for f in own if isinstance(f, KernelSetting)]
    assert (setting.netns, setting.value) == ("container:api", "80")


def test_environment_feeds_the_program_table() -> None:
    assert listeners("docker run -d --name dash -e GF_SERVER_HTTP_PORT=3300 grafana/grafana:11.2.0") == [
        ("dash", "process", 3300, "container:dash", "*")
    ]
    assert listeners("docker run --env=GF_SERVER_HTTP_PORT=3300 --name dash grafana/grafana:11.2.0") == [
        ("dash", "process", 3300, "container:dash", "*")
    ]
    # without a variable: grafana's built-in 3000; with an env file the scan does not read,
    # which may set GF_SERVER_HTTP_PORT, no default is assumed
    assert listeners("docker run --name dash grafana/grafana:11.2.0") == [
        ("dash", "process", 3000, "container:dash", "*")
    ]
    assert listeners("docker run --env-file /etc/grafana.env --name dash grafana/grafana:11.2.0") == []


def test_publish_all_uses_exposed_and_the_known_images_ports() -> None:
    found = line_words("docker run -d -P --expose 9000 --name cache redis:7")
    ports = sorted((f.bound_by, f.ports.start) for f in found if isinstance(f, Listener))
    assert ports == [("process", 6379), ("process", 9000)]  # random host ports: no host listener


def test_unnamed_containers_are_apart_and_say_their_line() -> None:
    found = line_words("docker run -d -p 8080:80 nginx:1.27", line=12)
    (decl,) = [f for f in found if isinstance(f, NetnsDecl)]
    assert decl.netns == "container:nginx (line 12)"
    assert decl.location == Location("run.sh", 12, 1)


@pytest.mark.parametrize(
    "line",
    [
        "docker compose run --rm -p 8080:80 web",
        "docker-compose run -p 8080:80 web",
        "docker exec -it web sh",
        "docker start -a web",
        "docker ps",
        'echo "docker run -p 8080:80 nginx"',
        "# docker run -p 8080:80 nginx",
        "grep -q 'docker run' README.md",
    ],
)
def test_not_a_container_start(line: str) -> None:
    assert line_words(line) == []


def test_podman_by_a_non_root_user_publishes_rootless() -> None:
    from portpolicy.model import RunAs

    reads = Reads("u.service", Invoker(RunAs(user="deploy", location=Location("u.service", 5, 6))))
    reads.line(
        "/usr/bin/podman run --name web -p 80:8080 web:2", lambda at: Location("u.service", 6, 11 + at)
    )
    published = [f for f in reads.found if isinstance(f, Listener) and f.netns == "host"]
    assert [(f.bound_by, f.run_as.user) for f in published] == [("rootless-runtime", "deploy")]
    rootful = Reads("u.service", Invoker(RunAs(user="deploy")))
    rootful.line("sudo podman run --name web -p 80:8080 web:2", lambda at: Location("u.service", 6, 1))
    assert [f.bound_by for f in rootful.found if isinstance(f, Listener) and f.netns == "host"] == ["runtime"]


def test_substitutions_and_variables_are_unknown_not_guessed() -> None:
    found = line_words('docker run -p "$(cat /etc/web.port):80" -p ${ADMIN_PORT}:81 --name web web:1')
    unresolved = sorted(
        (f.value, "command substitution" in f.reason) for f in found if isinstance(f, Unresolved)
    )
    assert unresolved == [("$(cat /etc/web.port):80", True), ("${ADMIN_PORT}:81", False)]
    assert not [f for f in found if isinstance(f, Listener) and f.netns == "host"]


# -- where a command line is read ----------------------------------------------------------


def test_unit_publishing_redis_past_ufw(tmp_path: Path) -> None:
    unit = "etc/systemd/system/redis.service"
    assert findings(tmp_path, {**UFW_DENY, unit: redis_unit("6379:6379")}) == [
        ("PP015", unit, 10),
        ("PP016", unit, 10),
    ]


def test_unit_publishing_redis_on_loopback_is_silent(tmp_path: Path) -> None:
    assert (
        findings(
            tmp_path, {**UFW_DENY, "etc/systemd/system/redis.service": redis_unit("127.0.0.1:6379:6379")}
        )
        == []
    )


def test_unit_environment_fills_the_published_port(tmp_path: Path) -> None:
    unit = redis_unit("${REDIS_PORT}:6379").replace("[Service]\n", "[Service]\nEnvironment=REDIS_PORT=6380\n")
    write_tree(tmp_path, {**UFW_DENY, "etc/systemd/system/redis.service": unit})
    report = scan_tree(tmp_path)
    published = [f for f in report.facts if isinstance(f, Listener) and f.bound_by == "runtime"]
    assert [(f.ports.start, f.location.line) for f in published] == [(6380, 11)]


ROOTLESS_UNIT = (
    "[Unit]\nDescription=shop front (rootless podman)\n\n[Service]\n{user}"
    "ExecStart=/usr/bin/podman run --rm --name shop --user 1000 -p 80:8080 registry.example.com/acme/shop:2.3\n"
    "Restart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n"
)


def test_rootless_podman_cannot_publish_a_privileged_port(tmp_path: Path) -> None:
    unit = "etc/systemd/system/shop.service"
    files = {**UFW_DENY, unit: ROOTLESS_UNIT.format(user="User=shop\n")}
    assert findings(tmp_path, files) == [("PP001", unit, 6)]
    run = run_cli("check", "--format", "json", ".", cwd=tmp_path)
    (finding,) = json.loads(run.stdout)["findings"]
    assert "rootless runtime's port forwarder, running as 'shop'" in finding["message"]


def test_rootful_podman_publishes_as_root(tmp_path: Path) -> None:
    unit = "etc/systemd/system/shop.service"
    # no User=: root runs podman, whose published port bypasses ufw like Docker's
    assert findings(tmp_path, {**UFW_DENY, unit: ROOTLESS_UNIT.format(user="")}) == [("PP016", unit, 5)]


PROVISION = """#!/bin/sh
# provision the edge host: reverse proxy on the host's network
set -eu

docker pull nginx:1.27
docker rm -f edge 2>/dev/null || true
docker run -d --name edge --restart always \\
    --network host \\
    -u 1000 {grant}\\
    --expose 80 \\
    nginx:1.27

# one-off jobs and commands that start no long-running listener
docker run --rm alpine:3.20 echo provisioned
docker compose -f /srv/app/compose.yaml run --rm migrate
echo "docker run -d -p 80:80 nginx"   # printed, not run
# docker run -d -p 8443:443 nginx
"""


def test_script_host_network_non_root_port_80(tmp_path: Path) -> None:
    path = "provision/edge.sh"
    assert findings(tmp_path, {path: PROVISION.format(grant="")}) == [("PP001", path, 10)]


def test_script_with_the_capability_granted_is_silent(tmp_path: Path) -> None:
    # cap_add for a non-root user reaches it only through file capabilities: no verdict either way
    assert (
        findings(tmp_path, {"provision/edge.sh": PROVISION.format(grant="--cap-add NET_BIND_SERVICE ")}) == []
    )


def test_facts_list_the_container_at_its_line(tmp_path: Path) -> None:
    write_tree(tmp_path, {"provision/edge.sh": PROVISION.format(grant="")})
    run = run_cli("facts", ".", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if line.startswith("  provision/edge.sh:")]
    assert [(r[0], r[2], r[5]) for r in rows] == [("provision/edge.sh:10:14", "edge", "80")]
    assert "namespace provision#container:alpine (line 14) [container" in run.stdout


PLAY = """- hosts: cache
  become: true
  vars:
    redis_bind: "{bind}"
  tasks:
    - name: start redis
      ansible.builtin.command: >-
        docker run -d --name redis -p {{{{ redis_bind }}}}6379:6379 redis:7
    - name: start exporter
      ansible.builtin.shell: |
        docker rm -f redis-exporter || true
        docker run -d --name redis-exporter \\
          -p 127.0.0.1:9121:9121 \\
          oliver006/redis_exporter:v1.62.0
"""


def test_ansible_command_task(tmp_path: Path) -> None:
    base = {"ansible.cfg": "[defaults]\ninventory = hosts.ini\n", "hosts.ini": "[cache]\ncache1\n"}
    assert findings(tmp_path, {**base, "site.yml": PLAY.format(bind="")}) == [("PP015", "site.yml", 7)]
    write_tree(tmp_path, {"site.yml": PLAY.format(bind="127.0.0.1:")})
    report = scan_tree(tmp_path)
    assert not [f for f in report.findings if f.rule in ("PP015", "PP016")]
    exporter = [f for f in report.facts if isinstance(f, Listener) and f.service == "redis-exporter"]
    assert {(f.location.line, f.bound_by) for f in exporter} == {(13, "runtime"), (13, "process")}


# -- hostile shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "docker run " + "-e A=1 " * 10_000 + "-p 8080:80 nginx",
        "docker run " + "--label x " * 5_000 + "nginx",
        "docker run -p " + "9" * 1_000_000 + " nginx",
        'docker run -p "8080:80 ' + "x" * 1000,
        "docker run " + "$(" * 20_000 + " nginx",
        "docker run " + "$(echo -p) " * 20_000 + "nginx",
        "docker run " + "`x` " * 20_000 + "nginx",
    ],
    ids=[
        "10k-flags",
        "5k-labels",
        "1MB-port",
        "unbalanced-quote",
        "open-substitutions",
        "substitutions",
        "backquotes",
    ],
)
def test_hostile_lines_are_bounded_and_give_one_pp000_at_most(tmp_path: Path, line: str) -> None:
    write_tree(tmp_path, {"deploy.sh": "#!/bin/sh\n" + line + "\n"})
    run = run_bounded("check", "--format", "json", "--fail-on", "never", ".", cwd=tmp_path)
    assert not run.crashed, run.stderr[-2000:]
    found = json.loads(run.stdout)["findings"]
    assert len([f for f in found if f["rule"] == "PP000"]) <= 1
    assert len(run.stdout) < 200_000


def _at(line: int, offset: int) -> Location:
    return Location("many.sh", line, offset + 1)


def test_thousands_of_container_commands_are_bounded(tmp_path: Path) -> None:
    lines = [
        f"docker run -d --name c{i} -p {10000 + i}:80 nginx:1.27" for i in range(containerrun.MAX_RUNS + 50)
    ]
    reads = Reads("many.sh")
    for number, text in enumerate(lines, 1):
        reads.line(text, partial(_at, number))
    errors = [f for f in reads.found if isinstance(f, ParseError)]
    assert len(errors) == 1 and f"more than {containerrun.MAX_RUNS}" in errors[0].message
    assert len({f.service for f in reads.found if isinstance(f, Listener)}) == containerrun.MAX_RUNS
