"""Images linked to the Dockerfile the repository builds them from (#23 items 2-4).

A workload names ``image: org/app``; a build call (Actions, GitLab CI, Makefile, script,
bake, skaffold) builds that name from a Dockerfile with a context. The workload then runs
the Dockerfile's USER, and COPY sources are read against the call's context.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from portpolicy.model import ImageBuild, Listener
from tests.helpers import scan_tree, write_tree
from tests.hostile import run_bounded

FIXTURE = Path(__file__).parent / "fixtures" / "buildcalls" / "actions"

DOCKERFILE = (
    "FROM nginx:1.27-alpine\nCOPY nginx/default.conf /etc/nginx/conf.d/default.conf\nUSER 101\nEXPOSE 80\n"
)
NGINX = "server {\n    listen 80;\n}\n"
POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: web
      image: {image}
"""

CALLS = {
    "gitlab": {
        ".gitlab-ci.yml": "variables:\n  IMAGE: registry.example.com/acme/web\nbuild:\n  image: docker:27\n"
        "  script:\n    - docker build -t $IMAGE:$CI_COMMIT_SHA -f docker/Dockerfile .\n",
    },
    "kaniko": {
        ".gitlab-ci.yml": "build:\n  script:\n    - /kaniko/executor --context $CI_PROJECT_DIR"
        " --dockerfile $CI_PROJECT_DIR/docker/Dockerfile --destination registry.example.com/acme/web:1\n",
    },
    "make": {
        "Makefile": "REGISTRY = registry.example.com\nIMAGE = $(REGISTRY)/acme/web\n\nimage:\n"
        "\tdocker buildx build --load -t $(IMAGE):latest -f docker/Dockerfile .\n",
    },
    "script": {
        "scripts/build.sh": "#!/bin/sh\nset -e\nIMAGE=registry.example.com/acme/web\n"
        'podman build -t "$IMAGE:dev" -f docker/Dockerfile .\n',
    },
    "bake": {
        "docker-bake.hcl": 'variable "REGISTRY" { default = "registry.example.com" }\n'
        'target "base" {\n  context = "."\n  dockerfile = "docker/Dockerfile"\n}\n'
        'target "web" {\n  inherits = ["base"]\n  tags = ["${REGISTRY}/acme/web:latest"]\n}\n',
    },
    "skaffold": {
        "skaffold.yaml": "apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n  artifacts:\n"
        "    - image: registry.example.com/acme/web\n      context: .\n      docker:\n"
        "        dockerfile: docker/Dockerfile\n",
    },
}


def _tree(root: Path, calls: dict[str, str], image: str = "registry.example.com/acme/web:1.0") -> Path:
    files = {
        "docker/Dockerfile": DOCKERFILE,
        "nginx/default.conf": NGINX,
        "k8s/pod.yaml": POD.replace("{image}", image),
        **calls,
    }
    return write_tree(root, files)


def _nginx_listeners(root: Path) -> list[Listener]:
    report = scan_tree(root)
    return [f for f in report.facts if isinstance(f, Listener) and f.location.path == "nginx/default.conf"]


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_each_build_call_links_the_pod_to_the_dockerfile(tmp_path: Path, kind: str) -> None:
    listeners = _nginx_listeners(_tree(tmp_path, CALLS[kind]))
    assert [(ln.service, ln.run_as.user, ln.bound_by) for ln in listeners] == [("web/web", "101", "process")]
    assert any("\u2190 docker/Dockerfile (context ." in ev.message for ev in listeners[0].evidence)


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_an_image_built_nowhere_stays_unlinked(tmp_path: Path, kind: str) -> None:
    """The negative twin: the pod runs another image; the conf stays on its own host, the pod's user unknown."""
    root = _tree(tmp_path, CALLS[kind], image="registry.example.com/acme/other:1.0")
    listeners = _nginx_listeners(root)
    assert [ln.container for ln in listeners] == ["docker/Dockerfile"]  # the image's, not the pod's
    report = scan_tree(root)
    pod = [f for f in report.facts if isinstance(f, Listener) and f.service == "web/web"]
    assert pod == []  # nothing of the Dockerfile reaches it (it declares no port of its own)


def test_two_dockerfiles_for_one_name_are_both_evaluated(tmp_path: Path) -> None:
    calls = {
        "Makefile": "IMAGE := registry.example.com/acme/web\nprod:\n\tdocker build -t $(IMAGE) -f docker/Dockerfile .\n"
        "dev:\n\tdocker build -t $(IMAGE):dev -f docker/Dockerfile.dev .\n",
        "docker/Dockerfile.dev": "FROM nginx:1.27-alpine\nCOPY nginx/default.conf /etc/nginx/conf.d/default.conf\n"
        "USER 0\n",
    }
    listeners = _nginx_listeners(_tree(tmp_path, calls))
    seen = {
        (
            ln.run_as.user,
            ln.bound_by,
            next(ev.message for ev in ln.evidence if "\u2190" in ev.message).split(" (context")[0],
        )
        for ln in listeners
    }
    linked = "nginx/default.conf is copied by COPY/ADD (image registry.example.com/acme/web"
    assert seen == {
        ("101", "process", f"{linked} \u2190 docker/Dockerfile"),
        (None, "root-master", f"{linked}:dev \u2190 docker/Dockerfile.dev"),
    }


def test_a_lone_dockerfile_reads_copies_from_the_calls_context(tmp_path: Path) -> None:
    """No workload names the image: the Dockerfile is a container of its own, its context the call's."""
    root = write_tree(
        tmp_path, {"docker/Dockerfile": DOCKERFILE, "nginx/default.conf": NGINX, **CALLS["make"]}
    )
    listeners = _nginx_listeners(root)
    assert [(ln.run_as.user, ln.container) for ln in listeners] == [("101", "docker/Dockerfile")]


def test_the_real_bug_shape_is_a_pp001_under_cri_o(tmp_path: Path) -> None:
    """Deployment ghcr.io/acme/web:1.2, workflow builds it from docker/Dockerfile (USER 101, context .)."""
    shutil.copytree(FIXTURE, tmp_path / "repo")
    run = run_bounded(
        "check", "--no-config", "--runtime", "cri-o", "--format", "json", ".", cwd=tmp_path / "repo"
    )
    assert not run.crashed, run.stderr
    findings = json.loads(run.stdout)["findings"]
    assert [(f["rule"], f["path"], f["line"]) for f in findings] == [("PP001", "nginx/default.conf", 2)]
    assert "web/web" in findings[0]["message"] and "101" in findings[0]["message"]


def test_facts_shows_each_link(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "repo")
    run = run_bounded("facts", "--no-config", ".", cwd=tmp_path / "repo")
    assert not run.crashed, run.stderr
    assert (
        "image ghcr.io/acme/web \u2190 docker/Dockerfile (context ., from .github/workflows/publish.yml:19)"
        in run.stdout
    )
    report = scan_tree(tmp_path / "repo")
    assert [f.names for f in report.facts if isinstance(f, ImageBuild)] == [("ghcr.io/acme/web",)]


def test_a_workflow_with_ten_thousand_steps_is_bounded(tmp_path: Path) -> None:
    steps = "".join(f"      - run: echo {i}\n" for i in range(10_000))
    workflow = f"on: push\njobs:\n  big:\n    runs-on: ubuntu-latest\n    steps:\n{steps}"
    workflow += "      - uses: docker/build-push-action@v6\n        with:\n          tags: acme/web\n"
    root = write_tree(tmp_path, {".github/workflows/big.yml": workflow, "Dockerfile": DOCKERFILE})
    run = run_bounded("facts", "--no-config", ".", cwd=root)
    assert not run.crashed, run.stderr
    assert "more than 2000 workflow steps: the rest are passed over" in run.stdout


def test_a_bake_file_with_cyclic_inherits_is_a_note(tmp_path: Path) -> None:
    bake = 'target "a" {\n  inherits = ["b"]\n  tags = ["acme/web"]\n}\ntarget "b" {\n  inherits = ["a"]\n}\n'
    root = write_tree(tmp_path, {"docker-bake.hcl": bake, "Dockerfile": DOCKERFILE})
    run = run_bounded("facts", "--no-config", ".", cwd=root)
    assert not run.crashed, run.stderr
    assert "bake target a: inherits cycle or chain too long (a -> b -> a)" in run.stdout
    assert "\u2190" not in run.stdout


def test_a_makefile_with_recursive_variables_is_a_note(tmp_path: Path) -> None:
    make = "A = $(B)\nB = $(A)\nimage:\n\tdocker build -t $(A) .\n"
    deep = (
        "".join(f"V{i} = $(V{i + 1})$(V{i + 1})\n" for i in range(40))
        + "image2:\n\tdocker build -t $(V0) .\n"
    )
    root = write_tree(tmp_path, {"Makefile": make, "sub/Makefile": deep, "Dockerfile": DOCKERFILE})
    run = run_bounded("facts", "--no-config", ".", cwd=root)
    assert not run.crashed, run.stderr
    assert "variable A nests too deep or refers to itself: the build call is passed over" in run.stdout
    assert "sub/Makefile:5" in run.stdout or "sub/Makefile:42" in run.stdout


# Compose ``build:`` with ``image:`` feeds the same table (#23 leftover): Compose builds the
# Dockerfile and tags the result with ``image:``, so a manifest naming that image runs it.
# With ``build:`` and no ``image:`` Compose v2 names the image ``<project>-<service>``, which
# only the service itself runs.

COMPOSE_BUILDS = {
    "long": "services:\n  web:\n    image: registry.example.com/acme/web:1.4\n    build:\n"
    "      context: .\n      dockerfile: docker/Dockerfile\n      args:\n        VERSION: '1.4'\n",
    "short": "services:\n  web:\n    image: registry.example.com/acme/web:1.4\n    build: .\n",
}


def _compose_tree(root: Path, compose: str, image: str = "registry.example.com/acme/web:1.0") -> Path:
    files = {
        "docker/Dockerfile" if "build: ." not in compose else "Dockerfile": DOCKERFILE,
        "nginx/default.conf": NGINX,
        "k8s/pod.yaml": POD.replace("{image}", image),
        "compose.yaml": compose,
    }
    return write_tree(root, files)


def _pod_links(root: Path) -> list[tuple[str | None, str]]:
    """The pod's nginx listeners: (user, which build linked them)."""
    return [
        (ln.run_as.user, next((ev.message for ev in ln.evidence if "\u2190" in ev.message), ""))
        for ln in _nginx_listeners(root)
        if ln.service == "web/web"
    ]


@pytest.mark.parametrize("form", sorted(COMPOSE_BUILDS))
def test_a_compose_build_with_an_image_links_a_pod_naming_that_image(tmp_path: Path, form: str) -> None:
    links = _pod_links(_compose_tree(tmp_path, COMPOSE_BUILDS[form]))
    dockerfile = "docker/Dockerfile" if form == "long" else "Dockerfile"
    assert [user for user, _ in links] == ["101"]
    assert (
        f"image registry.example.com/acme/web:1.4 \u2190 {dockerfile} (context ., from compose.yaml:4)"
        in (links[0][1])
    )


def test_a_compose_build_without_an_image_stays_the_services_own(tmp_path: Path) -> None:
    """The negative twin: no ``image:``, so the image is ``<project>-web``: the pod naming it
    (or the registry name) learns nothing, and the compose service still runs its build."""
    compose = "services:\n  web:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile\n"
    for image in (f"{tmp_path.name}-web:latest", "registry.example.com/acme/web:1.0"):
        root = _compose_tree(tmp_path, compose, image)
        assert _pod_links(root) == []
        users = {(ln.service, ln.run_as.user) for ln in _nginx_listeners(root)}
        assert ("web", "101") in users
    report = scan_tree(tmp_path)
    assert [f for f in report.facts if isinstance(f, ImageBuild)] == []


def test_another_compose_service_running_the_built_image_gets_its_dockerfile(tmp_path: Path) -> None:
    """A worker reusing the image the web service builds (a common compose shape) runs USER 101 too."""
    compose = COMPOSE_BUILDS["long"] + "  worker:\n    image: registry.example.com/acme/web:1.4\n"
    root = _compose_tree(tmp_path, compose, image="registry.example.com/acme/other:1")
    users = sorted((ln.service, ln.run_as.user) for ln in _nginx_listeners(root))
    assert users == [("web", "101"), ("worker", "101")]


def test_a_workflow_and_compose_building_one_image_alike_link_it_once(tmp_path: Path) -> None:
    workflow = (
        "on: push\njobs:\n  image:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: docker/build-push-action@v6\n        with:\n          context: .\n"
        "          file: docker/Dockerfile\n          tags: registry.example.com/acme/web:latest\n"
    )
    root = _compose_tree(tmp_path, COMPOSE_BUILDS["long"])
    write_tree(root, {".github/workflows/image.yml": workflow})
    links = _pod_links(root)
    assert len(links) == 1 and "from compose.yaml:4" in links[0][1]  # the first declaration wins
    report = scan_tree(root)
    assert len([f for f in report.facts if isinstance(f, ImageBuild)]) == 1


def test_a_dockerfile_inline_build_takes_no_other_dockerfile(tmp_path: Path) -> None:
    """``dockerfile_inline`` is not read: the service runs an unknown Dockerfile, so a workflow's
    build of the same name is not taken for it, and the pod naming it gets only the workflow's."""
    compose = (
        "services:\n  web:\n    image: registry.example.com/acme/web:1.4\n    build:\n      context: .\n"
        "      dockerfile_inline: |\n        FROM nginx:1.27-alpine\n        USER 0\n"
        "    volumes:\n      - ./nginx/default.conf:/etc/nginx/conf.d/default.conf\n"
    )
    make = "image:\n\tdocker build -t registry.example.com/acme/web -f docker/Dockerfile .\n"
    root = _compose_tree(tmp_path, compose)
    write_tree(root, {"Makefile": make})
    users = sorted((ln.service, ln.run_as.user) for ln in _nginx_listeners(root))
    assert users == [("web", None), ("web/web", "101")]
    facts = run_bounded("facts", "--no-config", ".", cwd=root)
    assert "from compose.yaml" not in facts.stdout and "from Makefile:2" in facts.stdout


def test_a_compose_service_without_build_runs_the_dockerfile_a_makefile_builds(tmp_path: Path) -> None:
    """#23's compose case: ``image:`` alone, built by the repository's Makefile (its twin: another name)."""
    compose = "services:\n  web:\n    image: registry.example.com/acme/web:1.0\n    ports: ['8080:80']\n"
    for image, expected in (
        ("registry.example.com/acme/web", ["101"]),
        ("registry.example.com/acme/api", []),
    ):
        make = f"image:\n\tdocker build -t {image} -f docker/Dockerfile .\n"
        root = write_tree(tmp_path / image.rsplit("/", 1)[1], {"compose.yaml": compose, "Makefile": make})
        _compose_tree(root, compose)
        users = [ln.run_as.user for ln in _nginx_listeners(root) if ln.service == "web"]
        assert users == expected
