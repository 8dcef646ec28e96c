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
