"""Template lines (issue #18): findings from a rendered template point at the template's line,
and at an ``{% include %}``d template's line; a suppression on that line works."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli, write_tree

SITE = """\
{# managed by ansible #}
{% set tls = false %}
{% if tls %}
    ssl on;
{% endif %}
server {
    server_name example.org;
    listen 50000;{noqa}
    {% include 'extra.j2' %}
}
"""
EXTRA = "{# an included part #}\n{% if not tls %}\nlisten 50001;{noqa}\n{% endif %}\n"


def _tree(tmp_path: Path, site_noqa: str = "", extra_noqa: str = "") -> Path:
    return write_tree(
        tmp_path,
        {
            "site.yml": "- name: Web\n  hosts: all\n  roles:\n    - web\n",
            "roles/web/tasks/main.yml": (
                "- name: Conf\n  ansible.builtin.template:\n    src: site.conf.j2\n"
                "    dest: /etc/nginx/conf.d/site.conf\n"
            ),
            "roles/web/templates/site.conf.j2": SITE.replace("{noqa}", site_noqa),
            "roles/web/templates/extra.j2": EXTRA.replace("{noqa}", extra_noqa),
        },
    )


def test_findings_point_at_the_template_and_the_included_template(tmp_path: Path) -> None:
    result = run_cli("check", ".", cwd=_tree(tmp_path))
    lines = [ln.split(" ")[0] for ln in result.stdout.splitlines() if " PP002 " in ln]
    assert lines == ["roles/web/templates/extra.j2:3:12:", "roles/web/templates/site.conf.j2:8:12:"], (
        result.stdout
    )


def test_suppressions_on_those_lines_work_and_are_used(tmp_path: Path) -> None:
    root = _tree(tmp_path, "  # noqa: PP002", "  # portpolicy: ignore[PP002] test port")
    result = run_cli("check", ".", cwd=root)
    assert result.returncode == 0 and "No problems found" in result.stdout, result.stdout


def test_the_ansible_lint_spelling_works_in_the_cli(tmp_path: Path) -> None:
    root = _tree(tmp_path, "  # noqa: portpolicy[listener-in-ephemeral-range]", "  # noqa: portpolicy")
    result = run_cli("check", ".", cwd=root)
    assert result.returncode == 0 and "No problems found" in result.stdout, result.stdout


def test_a_templated_manifest_deployed_under_an_unnamed_destination_is_read(tmp_path: Path) -> None:
    """Its destination names no format: its rendered content does (kubespray's manifests)."""
    manifest = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  hostNetwork: true\n  containers:\n"
        "    - name: app\n      image: example/app:1\n      ports:\n        - containerPort: {{ app_port }}\n"
    )
    broken = "apiVersion: v1\nkind: Pod\nmetadata: {{ meta }}\n  name: x\n"
    tasks = "".join(
        f'- name: {n}\n  ansible.builtin.template:\n    src: {n}.yml.j2\n    dest: "{{{{ conf_dir }}}}/{n}.yml"\n'
        for n in ("app", "broken")
    )
    root = write_tree(
        tmp_path,
        {
            "site.yml": "- name: K\n  hosts: all\n  roles:\n    - k\n",
            "roles/k/defaults/main.yml": "app_port: 50000\nconf_dir: /etc/kubernetes\n",
            "roles/k/tasks/main.yml": tasks,
            "roles/k/templates/app.yml.j2": manifest,
            "roles/k/templates/broken.yml.j2": broken,
        },
    )
    result = run_cli("facts", ".", cwd=root)
    assert "roles/k/templates/app.yml.j2:11:" in result.stdout and "50000" in result.stdout, result.stdout
    assert "broken.yml.j2" in result.stdout and "does not parse" in result.stdout, result.stdout
