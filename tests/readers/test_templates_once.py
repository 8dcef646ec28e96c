"""Templates are handled once, in ``Source`` (issue #19, item 4).

Whether a file is a template (its suffix) and its text with the Jinja masked are decided by
``portpolicy.readers.base.Source`` for every reader; a reader reads ``source.masked`` and
never tests a suffix or chooses when to mask.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import portpolicy.readers
from portpolicy.readers.base import Source, strip_template

READERS = Path(portpolicy.readers.__file__).parent
HOME = READERS / "base.py"
"""Where the decision lives: ``Source``, ``TEMPLATE_SUFFIXES``, ``mask_jinja``."""

OWN_DECISION = re.compile(
    r"""["']\.(?:j2|jinja2?)["']"""  # a template suffix written out: ".j2", '.jinja'
    r"|\bTEMPLATE_SUFFIXES\b"  # the suffix table itself
    r"|\bmask_jinja\b"  # masking chosen by the reader
)
"""What a reader module testing a template suffix, or masking on its own condition, writes."""


def _offences(text: str) -> list[str]:
    return [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if OWN_DECISION.search(line.split("#", 1)[0])
    ]


def test_the_search_finds_a_reader_deciding_for_itself() -> None:
    """The patterns catch what the readers used to write, or the test below proves nothing."""
    for written in (
        'if source.name_path.endswith(".j2") or "{%" in text:',
        "    text = mask_jinja(source.text)",
        'base = name.removesuffix(".jinja2")',
        "if path.endswith(TEMPLATE_SUFFIXES):",
        "return path[:-3] if path.endswith('.j2') else path",
    ):
        assert _offences(written), written
    assert not _offences("text = source.masked  # not mask_jinja: Source decides")
    assert not _offences('self.template = source.template\nname = strip_template(path)  # ".j2"')


def test_no_reader_module_tests_a_template_suffix_itself() -> None:
    modules = [p for p in sorted(READERS.rglob("*.py")) if p != HOME]
    assert len(modules) > 15
    found = {
        str(p.relative_to(READERS)): offences
        for p in modules
        if (offences := _offences(p.read_text(encoding="utf-8")))
    }
    assert not found, f"decide templates in readers.base.Source, not here: {found}"


@pytest.mark.parametrize(
    ("rel", "template"),
    [
        ("etc/nginx/nginx.conf.j2", True),
        ("roles/x/templates/sshd_config.jinja", True),
        ("sysctl.d/99-ports.conf.jinja2", True),
        ("etc/nginx/nginx.conf", False),
        ("templates/default.conf.template", True),  # nginx's envsubst: raw text all the same
        ("Dockerfile-alpine.tmpl", True),  # a generator's %%PLACEHOLDER%% template
        ("notes.j2.bak", False),
    ],
)
def test_a_template_is_known_by_the_suffix_of_its_path_below_the_root(rel: str, template: bool) -> None:
    source = Source(f"shown/{rel}", "x = 1\n", rel)
    assert source.template is template
    assert source.rendered_path == (rel.rsplit(".", 1)[0] if template else rel)
    assert strip_template(rel) == source.rendered_path


def test_a_folder_above_the_root_does_not_make_a_template() -> None:
    assert not Source("checkout.j2/etc/sysctl.conf", "x = 1\n", "etc/sysctl.conf").template


def test_masked_text_keeps_lines_and_columns() -> None:
    text = "{# managed by ansible #}\nlisten 80;\n  {% if tls %}\nlisten {{ port }};\n{% endif %}\n"
    source = Source("nginx.conf.j2", text)
    assert source.masked == "\nlisten 80;\n\nlisten {{ port }};\n\n"
    assert source.statement_lines == frozenset({3, 5})


def test_jinja_in_a_file_of_any_name_is_masked() -> None:
    """Ansible's ``template`` module renders files of any name: ``{%`` or ``{#`` says Jinja."""
    statement = Source("templates/sshd_config", "{% if x %}\nPort 22\n{% endif %}\n")
    comment = Source("templates/sshd_config", "{# managed #}\nPort 22\n")
    assert (statement.jinja, statement.masked) == (True, "\nPort 22\n\n")
    assert (comment.jinja, comment.masked) == (True, "\nPort 22\n")


def test_a_shell_length_is_no_jinja_comment() -> None:
    """``${#}`` twice in a script would otherwise blank every line between them."""
    script = "if [ ${#} -lt 1 ]; then\n  iptables -A INPUT -p tcp --dport 22 -j ACCEPT\nfi\necho ${#}\n"
    source = Source("firewall.sh", script)
    assert not source.jinja
    assert source.masked is source.text
    assert source.statement_lines == frozenset()


def test_text_without_jinja_is_the_text_itself() -> None:
    source = Source("etc/sysctl.conf", "net.ipv4.ip_local_port_range = 32768 60999\n")
    assert not source.template and not source.jinja
    assert source.masked is source.text
