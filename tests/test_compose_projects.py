"""Compose the way Compose does: service fragments, and ``${VAR}`` filled from the project's ``.env``.

What these tests rely on, from the Compose documentation (docs.docker.com):

* interpolation: "``${VAR:-default}`` -> value of VAR if set and non-empty, otherwise
  default; ``${VAR-default}`` -> value of VAR if set, otherwise default; ``${VAR:?error}`` ->
  value of VAR if set and non-empty, otherwise exit with error"; "You can use a ``$$``
  (double-dollar sign) when your configuration needs a literal dollar sign";
* the ``.env`` file: it sits in the project directory (the folder of the compose file);
  "Lines beginning with # are processed as comments", "Inline comments for unquoted values
  must be preceded with a space", "Single-quoted (') values are used literally";
* precedence: the shell of whoever runs Compose wins over ``.env``. portpolicy never reads
  its own shell's environment (a CI runner's is not the deployment's), so only ``.env`` and
  the file's defaults count, and a variable neither sets stays unresolved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portpolicy.model import InvalidPort, Listener, Unresolved
from portpolicy.pipeline import Report
from portpolicy.readers import compose, dotenv
from portpolicy.readers.base import Source
from tests.helpers import run_cli, scan_tree, write_tree

SECRET = "hunter2"


def scan(tmp_path: Path, files: dict[str, str]) -> Report:
    write_tree(tmp_path, files)
    return scan_tree(tmp_path)


def found(report: Report) -> list[tuple[str, str]]:
    return [(f.rule, f"{f.location.path}:{f.location.line}") for f in report.findings]


def published(report: Report) -> list[tuple[str, str]]:
    """(location, ports) of every host port a container runtime publishes."""
    return sorted(
        (f"{f.location.path}:{f.location.line}", str(f.ports))
        for f in report.facts
        if isinstance(f, Listener) and f.bound_by == "runtime"
    )


def unresolved(report: Report) -> list[tuple[str, str, str]]:
    return [(f"{f.location.path}:{f.location.line}", f.value, f.reason) for f in report.unresolved]


def compose_file(*ports: str) -> str:
    entries = "".join(f'      - "{p}"\n' for p in ports)
    return f"services:\n  web:\n    image: nginx\n    ports:\n{entries}"


# -- service fragments -----------------------------------------------------------------------------

FRAGMENT = 'web:\n  image: nginx\n  ports: ["40000:80"]\n'


def test_a_service_fragment_is_read_as_a_project_of_its_own(tmp_path: Path) -> None:
    report = scan(tmp_path, {"deploy/services/web.yml": FRAGMENT})
    assert report.readers == {"deploy/services/web.yml": "compose"}
    assert found(report) == [("PP002", "deploy/services/web.yml:3")]
    assert [h.name for h in report.hosts] == ["deploy/services/web.yml"]


def test_two_fragments_of_one_folder_are_two_projects(tmp_path: Path) -> None:
    """Each fragment is its own project: the same host port in both is no conflict between them."""
    files = {
        "deploy/a.yml": 'a:\n  image: nginx\n  ports: ["8080:80"]\n',
        "deploy/b.yml": 'b:\n  build: ./b\n  ports: ["8080:80"]\n',
    }
    report = scan(tmp_path, files)
    assert sorted(report.readers.items()) == [("deploy/a.yml", "compose"), ("deploy/b.yml", "compose")]
    assert found(report) == []


def test_a_fragment_is_judged_as_if_it_were_under_services(tmp_path: Path) -> None:
    body = "    image: nginx\n    user: '101'\n    network_mode: host\n    expose: ['80']\n"
    as_file = scan(tmp_path / "a", {"svc.yml": "web:\n" + body.replace("    ", "  ")})
    as_services = scan(tmp_path / "b", {"svc.yml": "services:\n  web:\n" + body})
    assert [f.rule for f in as_file.findings] == [f.rule for f in as_services.findings] == ["PP001"]
    assert [f.message for f in as_file.findings] == [f.message for f in as_services.findings]


LOOK_ALIKES = {
    # Helm: the image is a mapping of repository and tag, beside keys no service has
    "helm/chart/values.yaml": (
        "replicaCount: 2\nimage:\n  repository: nginx\n  tag: '1.25'\n  pullPolicy: IfNotPresent\n"
        "service:\n  type: ClusterIP\n  port: 80\nredis:\n  image: redis:7\n  port: 6379\n"
    ),
    # Ansible group variables: services described for a template, with keys of the role's own
    "inventory/group_vars/all.yml": (
        "app_image: nginx:1.25\ncontainers:\n  web:\n    image: nginx\n    ports: ['8080:80']\n"
        "web:\n  image: nginx\n  listen_port: 8080\n"
    ),
    # a GitHub workflow with service containers
    ".github/workflows/ci.yml": (
        "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    services:\n"
        "      db:\n        image: postgres:16\n        ports: ['5432:5432']\n    steps:\n      - run: make\n"
    ),
    # an OpenAPI document whose schema happens to have an image property
    "api/openapi.yaml": (
        "openapi: 3.0.0\ninfo:\n  title: x\n  version: '1'\npaths: {}\ncomponents:\n  schemas:\n"
        "    Container:\n      properties:\n        image:\n          type: string\n"
    ),
}


def test_look_alikes_with_image_keys_are_not_claimed(tmp_path: Path) -> None:
    files = {
        **LOOK_ALIKES,
        # a Kubernetes manifest is the Kubernetes reader's
        "k8s/deploy.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
            "      containers:\n        - name: web\n          image: nginx\n"
        ),
    }
    report = scan(tmp_path, files)
    assert report.readers == {"k8s/deploy.yaml": "kubernetes"}
    skipped = {s.path: s.reason for s in report.skipped}
    for path in LOOK_ALIKES:
        expected = "YAML that no reader recognises"
        if path.startswith(".github/workflows/"):  # a CI file, read for image builds beside a Dockerfile
            expected = "a CI workflow, read for image builds only when the scan reads a Dockerfile"
        assert skipped[path] == expected, path
    assert [f for f in report.findings if f.rule == "PP000"] == []


@pytest.mark.parametrize("path", sorted(LOOK_ALIKES))
def test_no_look_alike_passes_the_shape_test(path: str) -> None:
    """The reader's ``claims`` decides on the composed documents, whatever the sniff said."""
    from portpolicy.yamlnodes import compose_documents

    assert not compose.claims(compose_documents(LOOK_ALIKES[path]))


@pytest.mark.parametrize(
    "text",
    [
        'web:\n  image: nginx\n  ports: ["8080:80"]\n',
        "x-common: &c\n  restart: always\napi:\n  <<: *c\n  build:\n    context: .\n  expose: ['9000']\n",
        "db:\n  image: postgres\nweb:\n  extends: {service: db}\n  net: host\n",
    ],
)
def test_fragment_shapes_are_claimed(text: str) -> None:
    from portpolicy.signatures.compose import looks
    from portpolicy.yamlnodes import compose_documents

    assert looks(text)
    assert compose.claims(compose_documents(text))


# -- the project's .env ------------------------------------------------------------------------------


def test_a_port_from_the_env_file_gives_its_finding_at_the_compose_line(tmp_path: Path) -> None:
    files = {
        "app/docker-compose.yml": compose_file("${WEB_PORT}:80"),
        "app/.env": "# ports of this deployment\nexport WEB_PORT=40000 # above the ephemeral start\n",
    }
    report = scan(tmp_path, files)
    assert found(report) == [("PP002", "app/docker-compose.yml:5")]
    assert report.unresolved == []
    assert report.readers["app/.env"] == "dotenv"


def test_the_env_file_of_another_folder_is_not_used(tmp_path: Path) -> None:
    files = {"app/docker-compose.yml": compose_file("${WEB_PORT}:80"), ".env": "WEB_PORT=40000\n"}
    report = scan(tmp_path, files)
    assert found(report) == []
    assert unresolved(report) == [
        (
            "app/docker-compose.yml:5",
            "${WEB_PORT}:80",
            "port mapping: the host side holds a variable without a default",
        )
    ]


def test_a_file_that_is_its_own_project_uses_the_env_beside_it(tmp_path: Path) -> None:
    files = {"deploy/prod.yml": compose_file("${WEB_PORT}:80"), "deploy/.env": "WEB_PORT=40000\n"}
    assert found(scan(tmp_path, files)) == [("PP002", "deploy/prod.yml:5")]


@pytest.mark.parametrize(
    ("env", "entry", "port"),
    [
        ("", "${WEB_PORT:-8080}:80", "8080"),  # unset: the default
        ("WEB_PORT=\n", "${WEB_PORT:-8080}:80", "8080"),  # ':-' also when empty
        ("WEB_PORT=9090\n", "${WEB_PORT:-8080}:80", "9090"),
        ("WEB_PORT=9090\n", "${WEB_PORT-8080}:80", "9090"),
        ("WEB_PORT='9091'\n", "${WEB_PORT}:80", "9091"),
        ('WEB_PORT="9092" # quoted\n', "${WEB_PORT}:80", "9092"),
        ("BASE=9000\nWEB_PORT=${BASE}\n", "${WEB_PORT}:80", "9000"),  # a .env interpolates its own lines
        ("WEB_PORT=9093\n", "${NOPE:-${WEB_PORT}}:80", "9093"),  # nested defaults
        ("WEB_PORT=9094\n", "${WEB_PORT:+127.0.0.1:}8080:80", "8080"),
    ],
)
def test_defaults_and_env_values(tmp_path: Path, env: str, entry: str, port: str) -> None:
    files = {"compose.yaml": compose_file(entry), ".env": env or "# nothing set\n"}
    report = scan(tmp_path, files)
    assert unresolved(report) == []
    assert published(report) == [("compose.yaml:5", port)]


def test_empty_but_set_with_a_dash_default_publishes_on_an_automatic_port(tmp_path: Path) -> None:
    """``${VAR-default}``: VAR is set (to nothing), so no default; an empty host port is automatic."""
    report = scan(tmp_path, {"compose.yaml": compose_file("${WEB_PORT-8080}:80"), ".env": "WEB_PORT=\n"})
    assert published(report) == []
    assert report.unresolved == []


def test_a_required_variable_the_env_does_not_set_stays_unresolved_with_its_message(tmp_path: Path) -> None:
    files = {"compose.yaml": compose_file("${WEB_PORT:?set it}:80"), ".env": "OTHER=1\n"}
    report = scan(tmp_path, files)
    assert published(report) == []
    assert unresolved(report) == [
        (
            "compose.yaml:5",
            "${WEB_PORT:?set it}:80",
            "port mapping: the host side requires WEB_PORT, which is not set (Compose stops: 'set it')",
        )
    ]


def test_a_required_variable_the_env_sets_empty(tmp_path: Path) -> None:
    files = {"compose.yaml": compose_file("${WEB_PORT:?set it}:80"), ".env": "WEB_PORT=\n"}
    assert unresolved(scan(tmp_path, files)) == [
        (
            "compose.yaml:5",
            "${WEB_PORT:?set it}:80",
            "port mapping: the host side requires WEB_PORT, which .env sets to nothing (Compose stops: 'set it')",
        )
    ]


def test_a_double_dollar_is_a_literal_dollar_even_when_the_env_sets_the_name(tmp_path: Path) -> None:
    """``$$WEB_PORT`` is the text ``$WEB_PORT``: no port, and Docker refuses it (PP005), never 40000."""
    files = {"compose.yaml": compose_file("$$WEB_PORT:80"), ".env": "WEB_PORT=40000\n"}
    report = scan(tmp_path, files)
    assert found(report) == [("PP005", "compose.yaml:5")]
    [invalid] = [f for f in report.facts if isinstance(f, InvalidPort)]
    assert invalid.value == "$$WEB_PORT:80"


def test_env_file_is_the_containers_environment_not_interpolation(tmp_path: Path) -> None:
    """``env_file:`` sets the container's environment; Compose never fills ``${}`` from it."""
    text = compose_file("${WEB_PORT}:80") + "    env_file: [web.env]\n"
    report = scan(tmp_path, {"compose.yaml": text, "web.env": "WEB_PORT=40000\n"})
    assert found(report) == []
    assert [u[1] for u in unresolved(report)] == ["${WEB_PORT}:80"]


def test_the_shell_running_portpolicy_is_never_used(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": compose_file("${WEB_PORT}:80")})
    result = run_cli("check", "--format", "json", ".", cwd=tmp_path, env={"WEB_PORT": "40000"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["findings"] == []


def test_a_broken_env_is_said_on_the_compose_file_without_quoting_it(tmp_path: Path) -> None:
    files = {
        "compose.yaml": compose_file("${WEB_PORT}:80"),
        ".env": f"WEB_PORT=40000\nDB PASSWORD={SECRET}\n",
    }
    report = scan(tmp_path, files)
    assert found(report) == [("PP000", "compose.yaml:1")]
    why = "Compose cannot read .env (line 2 is not KEY=VALUE), so it refuses to start this project"
    assert why in report.findings[0].message
    assert published(report) == []


# -- secrets --------------------------------------------------------------------------------------------

LEAKY = """\
services:
  web:
    image: nginx
    container_name: ${DB_PASSWORD}
    user: ${DB_PASSWORD}
    network_mode: ${DB_PASSWORD}
    ports:
      - "${DB_PASSWORD}:80"
      - "${WEB_PORT}:${DB_PASSWORD}"
      - "127.0.0.1:${WEB_PORT}:81/${DB_PASSWORD}"
      - target: 82
        published: ${DB_PASSWORD:-8082}
        host_ip: ${DB_PASSWORD}
    volumes:
      - ${DB_PASSWORD}/conf:/etc/nginx/conf.d
    sysctls:
      net.ipv4.ip_unprivileged_port_start: ${DB_PASSWORD}
  api:
    image: app
    network_mode: host
    user: "${DB_PASSWORD}"
    expose: ["${DB_PASSWORD}", "${WEB_PORT}"]
  x:
    image: x
    ports: ["${DB_PASSWORD}"]
    environment:
      PASSWORD: ${DB_PASSWORD}
"""


@pytest.mark.parametrize(
    "args",
    [
        ("check", "-v", "--show-source"),
        ("check", "--format", "json"),
        ("check", "--format", "sarif"),
        ("check", "--statistics"),
        ("facts",),
        ("facts", "--format", "json"),
    ],
    ids=lambda a: " ".join(a),
)
def test_no_env_value_but_a_port_is_ever_printed(tmp_path: Path, args: tuple[str, ...]) -> None:
    write_tree(tmp_path, {"compose.yaml": LEAKY, ".env": f"DB_PASSWORD={SECRET}\nWEB_PORT=40000\n"})
    result = run_cli(*args, ".", cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "40000" in result.stdout  # the port itself is used (and shown)
    assert "DB_PASSWORD" in result.stdout or (args[0] == "check" and "-v" not in args)


def test_the_reader_keeps_no_value_that_is_not_port_like() -> None:
    text = (
        f"DB_PASSWORD={SECRET}\nQUOTED='{SECRET}'\nURL=\"http://x:{SECRET}@db\"\nPORT=8080\nRANGE=8000-8010\n"
    )
    [record] = dotenv.read(Source(".env", text))
    assert SECRET not in repr(record)
    assert dict(record.env.values) == {"PORT": "8080", "RANGE": "8000-8010"}
    assert sorted(record.env.opaque) == ["DB_PASSWORD", "QUOTED", "URL"]


def test_a_secret_makes_the_value_unresolved_and_names_only_the_variable(tmp_path: Path) -> None:
    files = {"compose.yaml": compose_file("${DB_PASSWORD}:80"), ".env": f"DB_PASSWORD={SECRET}\n"}
    assert unresolved(scan(tmp_path, files)) == [
        (
            "compose.yaml:5",
            "${DB_PASSWORD}:80",
            "port mapping: the host side takes DB_PASSWORD from .env, whose value is not a port "
            "(not shown: a .env holds secrets)",
        )
    ]


# -- the .env syntax -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "broken"),
    [
        ("A=1\n# comment\n\nB = 2\n", {"A": "1", "B": "2"}, ""),
        ("export A=1\nB: 2\n", {"A": "1", "B": "2"}, ""),
        ("A=1 # comment\nB=2# not a comment\n", {"A": "1"}, ""),  # B is '2# not...': not port-like
        ('A="1" # comment\n', {"A": "1"}, ""),
        ("A='$B'\n", {}, ""),  # literal '$B': kept only as set
        ('A="80\n81"\nB=1\n', {"B": "1"}, ""),  # a quoted value may span lines
        ("A\nB=1\n", {"B": "1"}, ""),  # a bare name takes the shell's value: never known here
        ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}, ""),
        ("A=1\nB C=2\n", {}, "line 2 is not KEY=VALUE"),
        ('A="1\n', {}, "line 1 opens a quoted value that never closes"),
        ('A="1" 2\n', {}, "line 1 has text after its quoted value"),
    ],
)
def test_env_syntax(text: str, values: dict[str, str], broken: str) -> None:
    env = dotenv.parse(text, ".env")
    assert (dict(env.values), env.broken) == (values, broken)


def test_deep_nesting_is_bounded() -> None:
    text = "${A:-" * 5000 + "80" + "}" * 5000
    assert dotenv.interpolate(text) == (dotenv.UNKNOWN, "nests variables too deeply")


def test_unchanged_files_keep_their_facts_without_a_pending_record(tmp_path: Path) -> None:
    """A file with variables no ``.env`` sets is not read twice and gives its facts as read."""
    files = {"compose.yaml": compose_file("${WEB_PORT}:80"), ".env": "OTHER=1\n"}
    report = scan(tmp_path, files)
    assert not any(isinstance(f, compose.Pending) for f in report.facts)
    assert sorted(type(f).__name__ for f in report.facts if isinstance(f, (Listener, Unresolved))) == [
        "Listener",
        "Unresolved",
    ]


def test_the_fragment_sniff_costs_one_pass() -> None:
    """Blocks of many indented, blank or comment lines with no ``image:`` child: linear, not quadratic."""
    import time

    from portpolicy.signatures.compose import looks

    def cost(n: int) -> float:
        text = ("a:\n  k: v\n" + "    deeper: x\n" * n + "  \n   # c\n" * n) * 4 + "b: 1\n"
        start = time.process_time()
        assert not looks(text)
        return time.process_time() - start

    small, large = min(cost(5_000) for _ in range(3)), min(cost(40_000) for _ in range(3))
    assert large < 2.0 and large < 30 * max(small, 1e-3)
