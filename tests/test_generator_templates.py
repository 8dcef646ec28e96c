"""Generator templates (``*.template``, ``*.tmpl``) are read like Jinja templates.

Official image repositories keep ``Dockerfile-<variant>.template`` files whose
``%%PLACEHOLDER%%`` values a script fills in; docker-gen and consul-template keep
``nginx.conf.tmpl``; the nginx image renders ``/etc/nginx/templates/*.template`` with
envsubst. Their raw text need not parse (a placeholder may bring a line continuation or a
whole directive), so a parse error there is an unresolved value, never PP000; what the raw
text does say (``USER``, ``EXPOSE``, ``listen``) is still read. The #11 recognition sweep
found 12 such false PP000s (docs/sweeps/2026-12-recognition.md, problem 1).
"""

from __future__ import annotations

import json
from pathlib import Path

from portpolicy import recognise
from portpolicy.readers.base import TEMPLATE_SUFFIXES, strip_template
from tests.helpers import run_cli, write_tree

# The substituted value brings the closing quote's continuation: raw, line 5 is no instruction.
DOCKERFILE_TEMPLATE = """\
FROM alpine:%%ALPINE_VERSION%%
ARG APP_VERSION=%%APP_VERSION%%
RUN set -eux \\
    && deps="%%BUILD_DEPS%%
    " \\
    && apk add --no-cache $deps
USER app
EXPOSE 80
CMD ["app", "--port", "80"]
"""

# docker-gen style: the Go template's `{{ range }}` ... `{{ end }}` lines leave a `}` unexpected.
NGINX_GO_TEMPLATE = """\
server {
    listen 8080;
    {{ range $name, $c := groupBy $ "Env.APP_HOST" }}
    location /{{ $name }}/ {
        proxy_pass http://{{ $name }}:9000;
    }
    {{ end }}
}
"""


def findings(root: Path, *args: str) -> list[tuple[str, str, int]]:
    result = run_cli("check", "--format", "json", *args, ".", cwd=root)
    assert result.returncode in (0, 1), result.stderr
    return sorted((f["rule"], f["path"], f["line"]) for f in json.loads(result.stdout)["findings"])


def facts(root: Path) -> dict[str, list[dict[str, str]]]:
    result = run_cli("facts", "--format", "json", ".", cwd=root)
    assert result.returncode == 0, result.stderr
    model: dict[str, list[dict[str, str]]] = json.loads(result.stdout)
    return model


def test_a_dockerfile_generator_template_is_read_without_pp000(tmp_path: Path) -> None:
    """The same raw text named ``Dockerfile`` is broken (PP000); named ``.template`` it is
    a template: no PP000, and its ``USER``/``EXPOSE`` still give their finding."""
    write_tree(
        tmp_path,
        {"image/Dockerfile-alpine.template": DOCKERFILE_TEMPLATE, "plain/Dockerfile": DOCKERFILE_TEMPLATE},
    )
    assert findings(tmp_path, "--runtime", "docker-legacy") == [
        ("PP000", "plain/Dockerfile", 5),
        ("PP001", "image/Dockerfile-alpine.template", 8),
        ("PP001", "plain/Dockerfile", 8),
    ]


def test_a_go_template_of_nginx_is_unresolved_where_its_raw_text_does_not_parse(tmp_path: Path) -> None:
    write_tree(tmp_path, {"nginx.conf.tmpl": NGINX_GO_TEMPLATE, "raw/nginx.conf": NGINX_GO_TEMPLATE})
    assert findings(tmp_path) == [("PP000", "raw/nginx.conf", 8)]
    model = facts(tmp_path)
    assert [(u["location"], u["reason"].split(" (")[0]) for u in model["unresolved"]] == [
        ("nginx.conf.tmpl:8:1", "template read without rendering, and its raw text does not parse")
    ]
    assert "nginx.conf.tmpl:2:12" in {listener["location"] for listener in model["listeners"]}


def test_an_envsubst_template_deployed_by_copy_is_unresolved_where_its_raw_text_does_not_parse(
    tmp_path: Path,
) -> None:
    """Read again as ``/etc/nginx/conf.d/default.conf`` (the deployed step), the template
    keeps the first pass's leniency: its ``${NGINX_EXTRA}`` line is filled in at start."""
    write_tree(
        tmp_path,
        {
            "proxy/Dockerfile": "FROM nginx:1.27-alpine\n"
            "COPY default.conf.template /etc/nginx/templates/default.conf.template\n"
            "USER nginx\n",
            "proxy/default.conf.template": "server {\n    listen 443 ssl;\n    ${NGINX_EXTRA}\n}\n",
        },
    )
    assert findings(tmp_path, "--runtime", "docker-legacy") == [("PP001", "proxy/default.conf.template", 2)]
    unresolved = facts(tmp_path)["unresolved"]
    assert [u["location"] for u in unresolved] == ["proxy/default.conf.template:4:1"]


def test_recognition_strips_the_same_template_suffixes_as_source() -> None:
    """One list of template suffixes: recognition's file type and a reader's rendered name agree."""
    for suffix in TEMPLATE_SUFFIXES:
        assert recognise.strip_template(f"nginx.conf{suffix}") == strip_template(f"nginx.conf{suffix}")
        assert recognise.never_config(f"app.py{suffix}")
        assert not recognise.never_config(f"nginx.conf{suffix}")
