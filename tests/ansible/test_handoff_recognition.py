"""A template is read as what its rendered text is, with its destination only as a prior (#11)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import scan_tree, write_tree

APACHE_SITE = (
    "Listen {{ site_port }}\n"
    "<VirtualHost *:{{ site_port }}>\n"
    "    ServerName shop.example.com\n"
    "    DocumentRoot /var/www/shop\n"
    "</VirtualHost>\n"
)


def _role(tmp_path: Path, template: str, dest: str) -> None:
    write_tree(
        tmp_path,
        {
            "inventory": "[web]\nweb1\n",
            "site.yml": "- hosts: web\n  vars:\n    site_port: 40000\n  roles: [web]\n",
            "roles/web/tasks/main.yml": f"- template:\n    src: site.conf.j2\n    dest: {dest}\n",
            "roles/web/templates/site.conf.j2": template,
        },
    )


def test_apache_content_deployed_to_a_sites_enabled_folder_is_read_as_apache(tmp_path: Path) -> None:
    _role(tmp_path, APACHE_SITE, "/etc/apache2/sites-enabled/shop.conf")
    named_apache = sorted((f.rule, f.location.line) for f in scan_tree(tmp_path).findings)
    _role(tmp_path, APACHE_SITE, "/etc/nginx/sites-enabled/shop.conf")
    report = scan_tree(tmp_path)
    # the destination's name says nginx, the rendered text says Apache: Apache reads it
    assert sorted((f.rule, f.location.line) for f in report.findings) == named_apache
    assert [rule for rule, _ in named_apache] == ["PP002"]
    # the port is the play's variable: the finding points where it is defined
    assert [f.location.path for f in report.findings] == ["site.yml"]
    assert any(r.location.path == "roles/web/templates/site.conf.j2" for r in report.findings[0].related)
