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


NFT_RULESET = (
    "table inet filter {\n"
    "  chain input {\n"
    "    type filter hook input priority 0; policy drop;\n"
    "    tcp dport 65536 accept\n"
    "  }\n"
    "}\n"
)


def _invalid_ports(tmp_path: Path) -> list[tuple[str, str]]:
    report = scan_tree(tmp_path)
    assert [f for f in report.findings if f.rule == "PP000"] == []
    return [(f.rule, f.message) for f in report.findings]


def test_a_template_that_does_not_render_is_filed_under_the_format_that_reads_it(tmp_path: Path) -> None:
    """Read raw, nftables content at an nginx name is nftables' to assemble (it was left to nginx's,
    half-read, and the scan stopped on it)."""
    head, rule, tail = NFT_RULESET.partition("    tcp dport 65536")
    # Jinja refuses the `%` and `}` of a tag on two lines: the template is read raw
    broken = head + "{% if ssh %\n}\n    tcp dport 22 accept\n{% endif %}\n" + rule + tail
    _role(tmp_path, broken, "/etc/nginx/conf.d/filter.conf")
    found = _invalid_ports(tmp_path)
    assert [rule for rule, _ in found] == ["PP005"]
    assert "65536" in found[0][1]


def test_copied_content_is_filed_under_the_format_that_reads_it(tmp_path: Path) -> None:
    content = "".join(f"          {line}\n" for line in NFT_RULESET.splitlines())
    write_tree(
        tmp_path,
        {
            "inventory": "[web]\nweb1\n",
            "site.yml": (
                "- hosts: web\n  tasks:\n    - copy:\n        dest: /etc/nginx/conf.d/filter.conf\n"
                f"        content: |\n{content}"
            ),
        },
    )
    found = _invalid_ports(tmp_path)
    assert [rule for rule, _ in found] == ["PP005"]
    assert "65536" in found[0][1]
