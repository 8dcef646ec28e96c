"""The pre-commit hooks: they pass every text file portpolicy may recognise, and a real try-repo run works."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from identify import identify
from identify.extensions import EXTENSIONS

from portpolicy.buildcalls import kind_of
from portpolicy.config import Config
from portpolicy.pipeline import scan
from portpolicy.recognise import NOT_CONFIG_SUFFIXES, YAML_SUFFIXES, never_config
from portpolicy.signatures import all_signatures, appconfig
from tests.helpers import REPO, write_tree

MANIFEST = REPO / ".pre-commit-hooks.yaml"

# Where each kind of file lives in real repositories. Each reader must match at least one of
# these (or of the fixture paths below), so a new reader cannot be added without a sample.
CANONICAL = [
    "etc/sysctl.conf",
    "etc/sysctl.d/99-ports.conf",
    "roles/kernel/templates/sysctl.d/60-net.conf.j2",
    "etc/systemd/system/web.service",
    "etc/systemd/system/web.socket",
    "etc/systemd/system/web.service.d/override.conf",
    "home/alice/.config/systemd/user/dev.socket",
    "roles/app/templates/app.service.j2",
    "compose.yaml",
    "docker-compose.yml",
    "deploy/docker-compose.prod.yaml",
    "compose.override.yml",
    ".env",
    "deploy/.env",
    "etc/nginx/nginx.conf",
    "etc/nginx/conf.d/default.conf",
    "etc/nginx/sites-available/default",
    "etc/nginx/sites-enabled/shop.example.com",
    "roles/nginx/templates/nginx.conf.j2",
    "etc/apache2/apache2.conf",
    "etc/apache2/ports.conf",
    "etc/apache2/sites-available/000-default.conf",
    "etc/httpd/conf/httpd.conf",
    "etc/httpd/conf.d/ssl.conf",
    "etc/haproxy/haproxy.cfg",
    "haproxy.cfg",
    "etc/ssh/sshd_config",
    "etc/ssh/sshd_config.d/10-port.conf",
    "etc/redis/redis.conf",
    "etc/postgresql/16/main/postgresql.conf",
    "etc/mysql/my.cnf",
    "etc/mysql/mysql.conf.d/mysqld.cnf",
    "etc/default/grafana-server",
    "Dockerfile",
    "docker/api/Dockerfile",
    "Dockerfile.dev",
    "api.Dockerfile",
    "Containerfile",
    "k8s/deployment.yaml",
    "charts/web/templates/service.yml",
    "etc/firewalld/zones/public.xml",
    "etc/firewalld/services/app.xml",
    "etc/firewalld/firewalld.conf",
    "etc/nftables.conf",
    "etc/nftables.d/filter.nft",
    "firewall/ruleset.nft",
    "etc/iptables/rules.v4",
    "etc/iptables/rules.v6",
    "etc/sysconfig/iptables",
    "etc/sysconfig/ip6tables",
    "iptables.rules",
    "etc/ufw/user.rules",
    "etc/ufw/user6.rules",
    "etc/ufw/before.rules",
    "etc/ufw/ufw.conf",
    "etc/ufw/applications.d/openssh-server",
    "etc/default/ufw",
    "scripts/firewall.sh",
    "bin/firewall",
    "etc/rc.firewall",
    "etc/network/if-pre-up.d/iptables",
    "iptables.save",
    "roles/etcd/templates/make-ssl-etcd.sh.j2",
    "roles/node/templates/manifests/kube-vip.manifest.j2",
    "scripts/pipeline.Dockerfile.j2",
    "roles/fw/templates/firewall.j2",
    "ansible.cfg",
    "group_vars/all",
    "inventories/prod/host_vars/web01",
    "inventory/hosts",
    "hosts.ini",
    "site.yml",
    "playbooks/web.yaml",
    "group_vars/all.yml",
    ".portpolicy.yml",
    "pyproject.toml",
    "etc/docker/daemon.json",
    "home/alice/.config/docker/daemon.json",
    "roles/docker/templates/daemon.json.j2",
]

NAMED_TYPES = {"json", "hcl"}
"""Suffixes of ``NOT_CONFIG_SUFFIXES`` that portpolicy reads under a few names (``never_config``
lets them through): the hooks' ``exclude`` pattern, not ``exclude_types``, drops the rest."""

SIDE_INPUTS = {
    "charts/web/values.schema.json": "Helm checks a release's values with it (a refusal is PP000 there)",
    ".devcontainer/devcontainer.json": "its dockerComposeFile list is a compose file set",
    "app/.devcontainer.json": "the same, beside the project",
    "docker-bake.hcl": "build calls: its targets link images to Dockerfiles",
    "deploy/docker-bake.override.hcl": "the same",
}
"""JSON and HCL files no reader claims that a later stage reads by name: a change to one can
change a verdict, so the whole-repository hook must start for it."""

UNREAD = [
    "package.json",
    "web/tsconfig.json",
    ".vscode/settings.json",
    "etc/daemon.json",
    "infra/terragrunt.hcl",
    "etc/vault.d/policy.json",
    "docker/api/package-lock.json",
]
"""JSON and HCL files nothing reads: they do not start the hooks."""


def _named_samples() -> list[str]:
    """A path for each name of ``signatures.appconfig`` (globs filled in), under ``etc/``."""
    return [f"etc/{glob.replace('*', 'main')}" for glob in appconfig.NAMES]


class Filter:
    """A hook's file filter as pre-commit applies it to a text file's repository path."""

    def __init__(self, hook: dict[str, Any]) -> None:
        assert hook["types"] == ["text"]
        self.types = set(hook["exclude_types"])
        self.pattern = re.compile(str(hook.get("exclude", "^$")))

    def passes(self, path: str) -> bool:
        """No tag of ``path`` is excluded and the ``exclude`` pattern does not find it (re.search)."""
        return not (identify.tags_from_filename(path) & self.types) and not self.pattern.search(path)


def _hook(hook_id: str) -> dict[str, Any]:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return dict(next(h for h in hooks if h["id"] == hook_id))


def _excluded(hook_id: str) -> Filter:
    return Filter(_hook(hook_id))


def _passed(path: str, excluded: Filter) -> bool:
    """Whether pre-commit hands ``path`` (a text file) to the hook."""
    return excluded.passes(path)


def _samples() -> list[str]:
    """Canonical paths plus every file under the test fixtures and the example tree."""
    found = list(CANONICAL)
    for root in (REPO / "tests" / "fixtures", REPO / "examples"):
        for path in root.rglob("*"):
            if path.is_file():
                found.append(path.relative_to(REPO).as_posix())
    return found


def test_manifest_shape() -> None:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    by_id = {h["id"]: h for h in hooks}
    assert set(by_id) == {"portpolicy", "portpolicy-files"}
    for hook in hooks:
        assert hook["language"] == "python" and hook["entry"] == "portpolicy check"
        assert "files" not in hook  # recognition is by content: no name filter
        assert hook["require_serial"] is True  # a split batch would lose cross-file context
    assert by_id["portpolicy"]["pass_filenames"] is False
    assert by_id["portpolicy-files"]["pass_filenames"] is True
    assert by_id["portpolicy"]["exclude_types"] == by_id["portpolicy-files"]["exclude_types"]
    assert by_id["portpolicy"]["exclude"] == by_id["portpolicy-files"]["exclude"]


def test_excluded_types_are_the_types_portpolicy_never_reads() -> None:
    """identify's tags for ``recognise.NOT_CONFIG_SUFFIXES``: text types only, and never XML (firewalld);
    the types read under some names are left to the ``exclude`` pattern."""
    generic = {"text", "binary", "executable", "non-executable", "file", "xml"}
    expected = set()
    for suffix in NOT_CONFIG_SUFFIXES - NAMED_TYPES:
        tags = set(EXTENSIONS.get(suffix, ())) - generic
        expected |= {t for t in tags if any(t in v and "text" in v for v in EXTENSIONS.values())}
    assert _excluded("portpolicy").types == expected - NAMED_TYPES  # .ipynb: jupyter, and json
    read = {p.rpartition(".")[2] for p in [*CANONICAL, *_named_samples()] if not never_config(p)}
    assert read & NOT_CONFIG_SUFFIXES == NAMED_TYPES  # the skipped types some name lets through


@pytest.mark.parametrize("hook_id", ["portpolicy", "portpolicy-files"])
def test_json_and_hcl_reach_the_hooks_exactly_when_portpolicy_reads_them(hook_id: str) -> None:
    hook = _excluded(hook_id)
    named = [p for p in [*_samples(), *_named_samples()] if p.rpartition(".")[2] in NAMED_TYPES]
    read = [p for p in named if not never_config(p)]
    assert {"etc/docker/daemon.json", "etc/appsettings.main.json", "etc/consul.d/main.hcl"} <= set(read)
    assert [p for p in read if not hook.passes(p)] == []
    assert [p for p in SIDE_INPUTS if not hook.passes(p)] == []
    assert [p for p in UNREAD if hook.passes(p)] == []
    assert [p for p in UNREAD + list(SIDE_INPUTS) if not never_config(p)] == []


def test_side_inputs_are_read_by_their_stages() -> None:
    from portpolicy.helm.charts import SCHEMA_FILE
    from portpolicy.readers.compose.sets import _is_devcontainer

    for path in SIDE_INPUTS:
        name = path.rpartition("/")[2]
        assert name == SCHEMA_FILE or _is_devcontainer(path) or kind_of(path) == "bake", path


@pytest.mark.parametrize("hook_id", ["portpolicy", "portpolicy-files"])
def test_every_path_a_reader_reads_reaches_the_hook(hook_id: str) -> None:
    excluded = _excluded(hook_id)
    samples = _samples()
    missed = []
    for signature in all_signatures():
        matched = [p for p in [*samples, *_named_samples()] if signature.named(p)]
        assert matched, f"reader {signature.name}: add sample paths of its files to CANONICAL"
        missed += [(signature.name, p) for p in matched if not _passed(p, excluded)]
    missed += [("yaml", p) for p in samples if p.lower().endswith(YAML_SUFFIXES) and not _passed(p, excluded)]
    assert missed == []


@pytest.mark.parametrize("hook_id", ["portpolicy", "portpolicy-files"])
def test_every_file_a_scan_of_the_fixtures_reads_reaches_the_hook(hook_id: str) -> None:
    """Files recognised by content or by project structure (Ansible inventories) count too."""
    excluded = _excluded(hook_id)
    old = os.getcwd()
    os.chdir(REPO)
    try:
        report = scan(["tests/fixtures", "examples"], Config())
    finally:
        os.chdir(old)
    assert len(report.files) > 20
    assert [p for p in report.files if not _passed(p, excluded)] == []


def test_unrelated_files_do_not_start_the_hook() -> None:
    excluded = _excluded("portpolicy")
    for path in ("README.md", "src/app/main.py", "docs/logo.svg", "package.json", "web/index.html"):
        assert not _passed(path, excluded), path


def _hook_repo(tmp: Path) -> Path:
    """A committed copy of this checkout: try-repo clones HEAD, and untracked files are not in it."""
    repo = tmp / "hook-repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in ("portpolicy", "rules"):
        shutil.copytree(REPO / name, repo / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(REPO / name, repo / name)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "hook repo")
    return repo


def _git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


def test_pre_commit_try_repo(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed for the pre-commit test")
    if subprocess.run([sys.executable, "-m", "pre_commit", "--version"], capture_output=True).returncode:
        pytest.fail("pre-commit is part of the test extras: pip install '.[test]'")
    hook_repo = _hook_repo(tmp_path)
    work = tmp_path / "work"
    write_tree(
        work,
        {
            "status/compose.yaml": (
                "services:\n  status:\n    image: nginx:1.27\n    user: '101'\n"
                "    network_mode: host\n    expose: ['80']\n"
            ),
            "shop/compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    ports: ['8080:80']\n",
            "README.md": "not checked\n",
            "deploy/units/webapp": (
                "[Unit]\nDescription=web app\n[Service]\nUser=app\n"
                "ExecStart=/usr/bin/node_exporter --web.listen-address=:80\n"
            ),
        },
    )
    _git(work, "init", "-q")
    _git(work, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)

    def try_repo(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), *args, "--color", "never"]
        return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)

    failing = try_repo("portpolicy", "--all-files", "--verbose")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "status/compose.yaml:6:14: PP001 [error]" in failing.stdout
    staged = try_repo("portpolicy-files", "--files", "shop/compose.yaml")
    assert staged.returncode == 0, staged.stdout + staged.stderr
    assert "Passed" in staged.stdout
    unhelpful = try_repo("portpolicy-files", "--files", "deploy/units/webapp")
    assert unhelpful.returncode == 1, unhelpful.stdout + unhelpful.stderr
    assert "deploy/units/webapp:5:" in unhelpful.stdout and "PP001" in unhelpful.stdout
    skipped = try_repo("portpolicy", "--files", "README.md")
    assert skipped.returncode == 0 and "no files to check" in skipped.stdout.lower()
