"""Tests for the Dockerfile reader: BuildKit syntax, stages, USER, EXPOSE and COPY."""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.model import (
    Fact,
    ImageInfo,
    InvalidPort,
    Listener,
    Location,
    ParseError,
    Unresolved,
)
from portpolicy.readers import dockerfile
from portpolicy.readers.base import Source
from portpolicy.signatures.dockerfile import SIGNATURE
from tests.helpers import run_cli, write_tree

named = SIGNATURE.named

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dockerfile"


def read(text: str, path: str = "Dockerfile") -> list[Fact]:
    return list(dockerfile.read(Source(path, text)))


def read_fixture(rel: str) -> tuple[str, list[Fact]]:
    path = f"tests/fixtures/dockerfile/{rel}"
    return path, read((FIXTURES / rel).read_text(encoding="utf-8"), path)


def image(facts: list[Fact]) -> ImageInfo:
    (info,) = [f for f in facts if isinstance(f, ImageInfo)]
    return info


def exposed(facts: list[Fact]) -> list[tuple[str, str, str | None]]:
    return [(f.protocol, str(f.ports), f.run_as.user) for f in facts if isinstance(f, Listener)]


@pytest.mark.parametrize(
    "path",
    [
        "Dockerfile",
        "docker/Dockerfile",
        "Dockerfile.prod",
        "Dockerfile.alpine.j2",
        "Dockerfile.j2",
        "api.Dockerfile",
        "web/nginx.dockerfile",
        "Containerfile",
        "build/Containerfile.j2",
        "Containerfile.fedora",
    ],
)
def test_matches_dockerfile_names(path: str) -> None:
    assert named(path)


@pytest.mark.parametrize(
    "path",
    [
        "Dockerfile.md",
        "Dockerfile.dockerignore",
        "docs/Dockerfile.txt",
        "dockerfile.py",
        "Dockerfiles/x.yml",
        "README",
    ],
)
def test_does_not_match_other_files(path: str) -> None:
    assert not named(path)


def test_multistage_fixture_stages_users_and_ports() -> None:
    path, facts = read_fixture("multistage/Dockerfile")
    info = image(facts)
    assert [(s.name, s.base, s.run_as.user) for s in info.stages] == [
        ("build", "alpine:3.20", "builder"),  # the heredoc's "USER fake" is a file body, not an instruction
        ("prod", "nginx:1.27-alpine", "nginx"),
        ("debug", "prod", "root"),  # built FROM prod: inherits its ports, its own USER wins
    ]
    prod = info.stage("prod")
    assert prod is not None
    # USER comes after EXPOSE in the file; the stage's last USER is what the process runs as.
    assert [(ln.protocol, str(ln.ports), ln.run_as.user) for ln in prod.listeners] == [
        ("tcp", "80", "nginx"),
        ("tcp", "443", "nginx"),
        ("udp", "53", "nginx"),
        ("tcp", "8080", "nginx"),  # ARG APP_PORT redeclared in the stage takes the global default
        ("tcp", "9113", "nginx"),  # ENV METRICS_PORT
        ("tcp", "8000-8010", "nginx"),
    ]
    assert prod.run_as.location == Location(path, 30, 6)
    # The lone image is the final stage (debug, root), in its own namespace.
    assert exposed(facts)[0] == ("tcp", "80", "root")
    lone = [f for f in facts if isinstance(f, Listener)]
    assert {ln.netns for ln in lone} == {"container:image:Dockerfile"}
    assert lone[4].location == Location(path, 28, 8)  # continuation line, exact column
    assert prod.copies == (
        ("nginx/default.conf", "/etc/nginx/conf.d/default.conf", Location(path, 23, 1)),
        ("nginx.conf", "/etc/nginx/", Location(path, 26, 1)),  # WORKDIR /etc/nginx + "."
    )
    bad = [(type(f).__name__, f.value) for f in facts if isinstance(f, (InvalidPort, Unresolved))]
    assert bad == [("InvalidPort", "99999"), ("InvalidPort", "80/xyz"), ("Unresolved", "$NOPE"), ("InvalidPort", "0")]
    assert not [f for f in facts if isinstance(f, ParseError)]


def test_escape_directive_backtick_continuations() -> None:
    path, facts = read_fixture("windows/Dockerfile")
    assert exposed(facts) == [("tcp", "8081", "ContainerUser"), ("tcp", "8443", "ContainerUser")]
    assert [f.location for f in facts if isinstance(f, Listener)] == [
        Location(path, 7, 8),
        Location(path, 8, 8),
    ]
    assert not [f for f in facts if isinstance(f, ParseError)]


def test_user_from_env_and_target_stages() -> None:
    _, facts = read_fixture("app/Dockerfile.prod")
    info = image(facts)
    users = {s.name: s.run_as.user for s in info.stages}
    assert users == {"base": None, "build": None, "dev": None, "prod": "api"}
    dev = info.stage("dev")
    assert dev is not None and [str(ln.ports) for ln in dev.listeners] == ["5678"]
    assert exposed(facts) == [("tcp", "8000", "api"), ("tcp", "9102", "api")]
    prod = info.stage("PROD")  # --target is case-insensitive
    assert prod is not None
    assert [(src, dest) for src, dest, _ in prod.copies] == [
        ("api/", "/srv/api/api/"),
        ("gunicorn.conf.py", "/etc/gunicorn/"),
    ]
    assert info.stage("nope") is None


def test_no_user_means_the_base_image_decides() -> None:
    facts = read("FROM registry.example.org/web:1.27\nEXPOSE 80\n")  # data/images.yml does not know it
    assert exposed(facts) == [("tcp", "80", None)]
    assert image(facts).stages[0].run_as.location is None


def test_scratch_runs_as_root() -> None:
    facts = read(
        "FROM golang:1.23 AS build\nUSER 1000\nFROM scratch\nCOPY --from=build /app /app\nEXPOSE 443\n"
    )
    (ln,) = [f for f in facts if isinstance(f, Listener)]
    assert ln.run_as.user == "root" and ln.run_as.location == Location("Dockerfile", 3, 1)


def test_stage_from_image_does_not_inherit_earlier_stage() -> None:
    facts = read("FROM alpine AS one\nUSER app\nEXPOSE 8080\nFROM alpine\nEXPOSE 9090\n")
    assert exposed(facts) == [("tcp", "9090", None)]


@pytest.mark.parametrize(
    ("text", "user"),
    [
        ("FROM alpine\nARG APP_USER=svc\nUSER $APP_USER\n", "svc"),
        ("FROM alpine\nENV APP_USER svc\nUSER ${APP_USER}:staff\n", "svc:staff"),
        ("FROM alpine\nUSER ${APP_USER:-nobody}\n", "nobody"),
        ("ARG UID=1000\nFROM alpine\nARG UID\nUSER $UID\n", "1000"),
        ("FROM alpine\nuser 0:0\n", "0:0"),
        ("FROM alpine\nUSER app\nUSER root\n", "root"),
    ],
)
def test_user_forms(text: str, user: str) -> None:
    assert image(read(text + "EXPOSE 80\n")).stages[-1].run_as.user == user


@pytest.mark.parametrize(
    "text",
    [
        "FROM alpine\nARG APP_USER\nUSER $APP_USER\n",  # declared without a value: a build-arg sets it
        "FROM alpine\nUSER $UNDECLARED\n",
        "ARG UID=1000\nFROM alpine\nUSER $UID\n",  # a global ARG is not visible without redeclaring
    ],
)
def test_unknown_user_is_unresolved(text: str) -> None:
    facts = read(text + "EXPOSE 80\n")
    assert [f.kind for f in facts if isinstance(f, Unresolved)] == ["unresolved"]
    assert exposed(facts) == [("tcp", "80", None)]


def test_expose_forms_and_invalid_values() -> None:
    facts = read(
        "FROM alpine\n"
        "ARG RANGE=7000-7002\n"
        'EXPOSE 80 80/TCP 53/udp 9000/sctp "8443" $RANGE\n'
        "EXPOSE 0\n"
        "EXPOSE 65536 70-60 http 80/icmp /tcp\n"
    )
    assert exposed(facts) == [
        ("tcp", "80", None),
        ("tcp", "80", None),
        ("udp", "53", None),
        ("sctp", "9000", None),
        ("tcp", "8443", None),
        ("tcp", "7000-7002", None),
    ]
    invalid = [f for f in facts if isinstance(f, InvalidPort)]
    assert [f.value for f in invalid] == ["0", "65536", "70-60", "http", "80/icmp", "/tcp"]
    assert "port 0 is no port" in invalid[0].reason
    assert invalid[1].location == Location("Dockerfile", 5, 8)


def test_heredocs_comments_and_json_forms() -> None:
    facts = read(
        "# syntax=docker/dockerfile:1\n"
        "FROM nginx:1.27\n"
        "# EXPOSE 22\n"
        "RUN <<EOF bash\n"
        "USER root\n"
        "EXPOSE 2222\n"
        "EOF\n"
        'COPY ["conf/site.conf", "/etc/nginx/conf.d/site.conf"]\n'
        "COPY <<-EOT /etc/nginx/conf.d/extra.conf\n"
        "\tEXPOSE 3333\n"
        "\tEOT\n"
        "    EXPOSE 8080 # an inline '#' is no comment in a Dockerfile\n"
    )
    info = image(facts)
    assert [(s, d) for s, d, _ in info.stages[0].copies] == [
        ("conf/site.conf", "/etc/nginx/conf.d/site.conf"),
        ("written:Dockerfile:9", "/etc/nginx/conf.d/extra.conf"),  # the heredoc, written in the image
    ]
    assert [str(ln.ports) for ln in facts if isinstance(ln, Listener)] == ["8080"]
    assert [f.value for f in facts if isinstance(f, InvalidPort)][:2] == ["#", "an"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM alpine\nEXPSOE 80\n", "unknown instruction 'EXPSOE'"),
        ("FROM alpine\nRUN <<EOF\necho hi\n", "heredoc <<EOF is never closed"),
        ("FROM alpine\nUSER a b\n", "USER takes exactly one argument"),
        ("EXPOSE 80\nFROM alpine\n", "EXPOSE before the first FROM"),
        ("# escape=x\nFROM alpine\n", "invalid escape directive 'x'"),
    ],
)
def test_malformed_input_is_a_parse_error(text: str, message: str) -> None:
    errors = [f.message for f in read(text) if isinstance(f, ParseError)]
    assert any(message in e for e in errors), errors


def test_templated_dockerfile_tolerated() -> None:
    facts = read(
        "FROM {{ base_image }}\n{% if debug %}\nEXPOSE 5678\n{% endif %}\nUSER {{ app_user }}\nEXPOSE {{ port }}\n",
        "roles/app/templates/Dockerfile.j2",
    )
    assert not [f for f in facts if isinstance(f, ParseError)]
    assert [str(ln.ports) for ln in facts if isinstance(ln, Listener)] == ["5678"]
    unresolved = [(f.value, f.location.line) for f in facts if isinstance(f, Unresolved)]
    assert unresolved == [("{{ app_user }}", 5), ("{{ port }}", 6)]
    assert not [f for f in facts if isinstance(f, InvalidPort)]


def test_garbage_never_raises() -> None:
    for text in (
        "",
        "\\\n",
        "FROM",
        "FROM a AS\nEXPOSE ${",
        "\x00\x01",
        'COPY ["a"\nUSER\n',
        "RUN <<\n" * 50,
    ):
        facts = read(text)
        assert all(hasattr(f, "kind") for f in facts)


# -- whole pipeline: a lone image and the runtime setting --------------------------------------


def _lone(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    write_tree(tmp_path, {"web/Dockerfile": text})
    proc = run_cli("check", "--format", "json", *args, ".", cwd=tmp_path)
    return proc.returncode, proc.stdout


NGINX_AS_NGINX = "FROM nginx:1.27-alpine\nRUN chown -R nginx /var/cache/nginx\nUSER nginx\nEXPOSE 80\n"


def test_lone_image_binding_80_as_non_root_under_docker_is_fine(tmp_path: Path) -> None:
    code, out = _lone(tmp_path, NGINX_AS_NGINX, "--runtime", "docker")
    assert code == 0, out


def test_lone_image_binding_80_as_non_root_fails_where_the_runtime_keeps_1024(tmp_path: Path) -> None:
    import json

    code, out = _lone(tmp_path, NGINX_AS_NGINX, "--runtime", "docker-legacy")
    assert code == 1
    (finding,) = json.loads(out)["findings"]
    assert finding["rule"] == "PP001"
    assert (finding["path"], finding["line"]) == ("web/Dockerfile", 4)
    assert "runtime docker-legacy keeps it" in finding["message"]
    assert any(r["path"] == "web/Dockerfile" and r["line"] == 3 for r in finding["related"])


@pytest.mark.parametrize(
    "text",
    [
        "FROM nginx:1.27-alpine\nEXPOSE 80\n",  # no USER: the base image decides
        "FROM scratch\nCOPY app /app\nEXPOSE 80\n",  # root
        "FROM nginx:1.27-alpine\nARG RUN_AS\nUSER $RUN_AS\nEXPOSE 80\n",  # unknown user
        "FROM nginx:1.27-alpine\nUSER nginx\nEXPOSE 8080\n",  # unprivileged port
    ],
)
def test_lone_image_without_a_known_non_root_user_gives_no_pp001(tmp_path: Path, text: str) -> None:
    code, out = _lone(tmp_path, text, "--runtime", "docker-legacy")
    assert code == 0, out


def test_lone_image_invalid_expose_is_pp005(tmp_path: Path) -> None:
    import json

    code, out = _lone(tmp_path, "FROM alpine\nEXPOSE 80800\n")
    assert code == 1
    assert [f["rule"] for f in json.loads(out)["findings"]] == ["PP005"]


def test_two_dockerfiles_in_one_directory_do_not_conflict(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "Dockerfile": "FROM nginx:1.27\nEXPOSE 80\n",
            "Dockerfile.dev": "FROM nginx:1.27\nEXPOSE 80\n",
        },
    )
    proc = run_cli("check", "--select", "PP004", ".", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout


def test_copy_from_an_earlier_stage_is_traced_back_to_the_build_context() -> None:
    facts = read(
        "FROM node:22 AS build\n"
        "WORKDIR /app\n"
        "COPY . .\n"
        "COPY deploy/nginx.conf /opt/conf/\n"
        "RUN npm ci && npm run build\n"
        "FROM nginx:1.27-alpine\n"
        "COPY --from=build /app/.nginx/site.conf /etc/nginx/conf.d/default.conf\n"
        "COPY --from=build /opt/conf/nginx.conf /etc/nginx/nginx.conf\n"
        "COPY --from=build /opt/conf/other.conf /etc/nginx/other.conf\n"
        "COPY --from=ghcr.io/acme/assets:1 /assets /usr/share/nginx/html\n"
    )
    final = image(facts).stages[-1]
    assert [(s, d) for s, d, _ in final.copies] == [
        (".nginx/site.conf", "/etc/nginx/conf.d/default.conf"),
        ("deploy/nginx.conf", "/etc/nginx/nginx.conf"),
    ]


ODD_BREAKS = "\x0c\x0b\x1c\x1d\x1e\x85\u2028\u2029"
"""What ``str.splitlines`` breaks at and a Dockerfile, like every other reader, does not."""


def test_only_crlf_cr_and_lf_end_a_line() -> None:
    facts = read(f"FROM alpine\r\n# a note{ODD_BREAKS}more\rEXPOSE 80800\nEXPOSE 8080\n")
    invalid = [f.location for f in facts if isinstance(f, InvalidPort)]
    assert invalid == [Location("Dockerfile", 3, 8)]
    assert exposed(facts) == [("tcp", "8080", None)]


def test_line_numbers_code_frame_and_suppression_agree_on_odd_line_breaks(tmp_path: Path) -> None:
    """The reader split at \\f and U+2028, the code frame and suppressions did not: the finding
    pointed at a later line, showed another line's text and its noqa comment went unseen."""
    text = f"FROM alpine\n# note{ODD_BREAKS}\nEXPOSE 80800\nEXPOSE 70000 # noqa: PP005\n"
    write_tree(tmp_path, {"Dockerfile": text})
    proc = run_cli("check", "--show-source", "--no-config", ".", cwd=tmp_path)
    assert "Dockerfile:3:8: PP005" in proc.stdout, proc.stdout
    assert "EXPOSE 80800" in proc.stdout
    assert "70000" not in proc.stdout  # suppressed on its own line
