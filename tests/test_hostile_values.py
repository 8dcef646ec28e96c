"""Numbers that are really numbers (issue #20): hostile digits in every format, and saved live facts.

``str.isdigit`` says yes to ``²`` (which ``int`` refuses) and to ``٨٠`` (which ``int`` reads
as 80), and ``int`` refuses more than 4,300 digits. Each format gets the three values in a
small tree, scanned by the real CLI in a bounded child: every value must come back as an
invalid port (PP005) or a refused kernel setting (PP006) that names the token, cut short,
never as an internal error, a traceback or a silently accepted port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from portpolicy import kernel, live, live_audit
from portpolicy.model import InvalidPort, Location, PortRange
from portpolicy.readers.base import ascii_int, parse_port_range, shown
from tests.helpers import FIXTURES, REPO, write_tree
from tests.hostile import run_bounded, run_python_bounded

SUPERSCRIPT = "\u00b20000"  # "²0000": isdigit() is True, int() raises
ARABIC_INDIC = "\u0668\u0660"  # "٨٠": isdigit() is True, int() gives 80
HUGE = "9" * 5000  # more digits than int() converts
VALUES = {"superscript": SUPERSCRIPT, "arabic-indic": ARABIC_INDIC, "huge": HUGE}

# format -> (files with {V} where the value goes, the rule that must report it)
FORMATS: dict[str, tuple[dict[str, str], str]] = {
    "sysctl range": ({"etc/sysctl.conf": "net.ipv4.ip_local_port_range = {V} 60999\n"}, "PP006"),
    "sysctl reserved": ({"etc/sysctl.conf": "net.ipv4.ip_local_reserved_ports = 8080,{V}\n"}, "PP006"),
    "sysctl unprivileged": ({"etc/sysctl.conf": "net.ipv4.ip_unprivileged_port_start = {V}\n"}, "PP006"),
    "ansible sysctl": (
        {
            "site.yml": (
                "- hosts: web\n  tasks:\n    - ansible.posix.sysctl:\n"
                '        name: net.ipv4.ip_unprivileged_port_start\n        value: "{V}"\n'
            ),
            "inventory.ini": "[web]\nweb1\n",
        },
        "PP006",
    ),
    "systemd socket": ({"etc/systemd/system/api.socket": "[Socket]\nListenStream={V}\n"}, "PP005"),
    "systemd flag": (
        {
            "etc/systemd/system/node_exporter.service": (
                "[Service]\nExecStart=/usr/bin/node_exporter --web.listen-address=:{V}\n"
            )
        },
        "PP005",
    ),
    "compose": (
        {"compose.yaml": 'services:\n  api:\n    image: api\n    ports:\n      - "{V}:80"\n'},
        "PP005",
    ),
    "compose sysctls": (
        {
            "compose.yaml": (
                "services:\n  api:\n    image: api\n    sysctls:\n"
                '      net.ipv4.ip_unprivileged_port_start: "{V}"\n'
            )
        },
        "PP006",
    ),
    "kubernetes": (
        {
            "pod.yaml": (
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\nspec:\n  containers:\n"
                "    - name: api\n      image: api\n      ports:\n        - containerPort: {V}\n"
            )
        },
        "PP005",
    ),
    "kubernetes sysctls": (
        {
            "pod.yaml": (
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\nspec:\n  securityContext:\n"
                "    sysctls:\n      - name: net.ipv4.ip_unprivileged_port_start\n"
                '        value: "{V}"\n  containers:\n    - name: api\n      image: api\n'
            )
        },
        "PP006",
    ),
    "dockerfile": ({"Dockerfile": "FROM alpine:3\nEXPOSE {V}\n"}, "PP005"),
    "nginx": ({"nginx.conf": "http {{\n  server {{\n    listen {V};\n  }}\n}}\n"}, "PP005"),
    "apache": ({"httpd.conf": "Listen {V}\n"}, "PP005"),
    "haproxy": ({"haproxy.cfg": "frontend web\n  bind *:{V}\n"}, "PP005"),
    "sshd": ({"sshd_config": "Port {V}\n"}, "PP005"),
    "daemons table": ({"etc/redis/redis.conf": "port {V}\n"}, "PP005"),
    "firewalld": (
        {
            "etc/firewalld/zones/public.xml": '<?xml version="1.0"?>\n<zone>\n  <port protocol="tcp" port="{V}"/>\n</zone>\n'
        },
        "PP005",
    ),
    "nftables": (
        {
            "nftables.conf": (
                "table inet filter {{\n  chain input {{\n    type filter hook input priority 0; policy drop;\n"
                "    tcp dport {V} accept\n  }}\n}}\n"
            )
        },
        "PP005",
    ),
    "iptables-save": (
        {
            "etc/iptables/rules.v4": "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport {V} -j ACCEPT\nCOMMIT\n"
        },
        "PP005",
    ),
    "iptables command": ({"fw.sh": "#!/bin/sh\niptables -A INPUT -p tcp --dport {V} -j ACCEPT\n"}, "PP005"),
    "firewall-cmd": ({"firewall.sh": "#!/bin/sh\nfirewall-cmd --permanent --add-port={V}/tcp\n"}, "PP005"),
    "ufw command": ({"setup.sh": "#!/bin/sh\nufw allow {V}/tcp\n"}, "PP005"),
    "ufw user.rules": (
        {
            "etc/ufw/user.rules": (
                "*filter\n:ufw-user-input - [0:0]\n"
                "### tuple ### allow tcp {V} 0.0.0.0/0 any 0.0.0.0/0 in\n"
                "-A ufw-user-input -p tcp --dport {V} -j ACCEPT\nCOMMIT\n"
            )
        },
        "PP005",
    ),
}


def _folder(fmt: str) -> str:
    return fmt.replace(" ", "-")


@pytest.fixture(scope="module", params=sorted(VALUES))
def scanned(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, list[dict[str, object]]]]:
    """One tree per hostile value with every format in its own folder, scanned once by the CLI."""
    value = VALUES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    for fmt, (files, _rule) in FORMATS.items():
        write_tree(root, {f"{_folder(fmt)}/{rel}": text.format(V=value) for rel, text in files.items()})
    run = run_bounded("check", "--format", "json", "--no-config", "--fail-on", "never", ".", cwd=root)
    assert not run.crashed, run.stderr[-2000:]
    assert run.returncode == 0, run.stderr[-2000:]
    by_folder: dict[str, list[dict[str, object]]] = {}
    for finding in json.loads(run.stdout)["findings"]:
        by_folder.setdefault(str(finding["path"]).split("/", 1)[0], []).append(finding)
    return value, by_folder


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_hostile_digits_are_invalid_values_naming_the_token(
    fmt: str, scanned: tuple[str, dict[str, list[dict[str, object]]]]
) -> None:
    value, by_folder = scanned
    findings = by_folder.get(_folder(fmt), [])
    rule = FORMATS[fmt][1]
    messages = [str(f["message"]) for f in findings if f["rule"] == rule]
    assert messages, (fmt, findings)  # reported, not silently read as a port (٨٠ is no 80)
    assert any(shown(value) in m for m in messages), (fmt, messages)
    for f in findings:
        message = str(f["message"])
        assert "internal error" not in message and "ValueError" not in message, message
        assert value not in message or len(value) <= 40, "a hostile value is quoted cut short"
        assert len(message) < 600, message


def test_unicode_digits_are_no_port_anywhere() -> None:
    """The shared helper: ASCII digits only, long numbers never converted."""
    assert ascii_int("8080") == 8080 and ascii_int("0080") == 80
    for text in (SUPERSCRIPT, ARABIC_INDIC, "", "+80", " 80", "1_000", "８０"):
        assert ascii_int(text) is None, text
    assert ascii_int(HUGE) is not None and ascii_int(HUGE) > 2**64  # type: ignore[operator]
    assert ascii_int("0" * 5000 + "80") == 80
    where = Location("compose.yaml", 1, 1)
    fact = parse_port_range(ARABIC_INDIC, where, "host port")
    assert isinstance(fact, InvalidPort) and ARABIC_INDIC in fact.reason
    fact = parse_port_range(f"80-{HUGE}", where, "host port")
    assert isinstance(fact, InvalidPort) and "outside 1-65535" in fact.reason and len(fact.reason) < 120
    assert parse_port_range("0080-0090", where, "host port") == PortRange(80, 90)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"{ARABIC_INDIC} 60999", "is not two port numbers"),
        (f"1024 {SUPERSCRIPT}", "is not two port numbers"),
        (f"1024 {HUGE}", "is outside 1-65535"),
        ("1024 065536", "065536 is outside 1-65535"),
    ],
)
def test_kernel_range_refuses_what_is_no_ascii_number(text: str, reason: str) -> None:
    got = kernel.parse_range(text, 60999)
    assert isinstance(got, str) and reason in got and len(got) < 120, got


def test_kernel_reserved_and_unprivileged_refuse_hostile_numbers() -> None:
    assert kernel.parse_reserved(f"8080,{ARABIC_INDIC}") == f"{ARABIC_INDIC!r} is not a port or port range"
    assert str(kernel.parse_reserved(f"1-{HUGE}")).endswith("... is above 65535")
    assert (
        kernel.parse_override("ip_unprivileged_port_start", SUPERSCRIPT) == f"{SUPERSCRIPT!r} is not a number"
    )
    assert kernel.parse_override("ip_local_port_range", "32768-60999") == PortRange(32768, 60999)
    assert kernel.parse_override("ip_local_port_range", "1 2 3") == "'1 2 3' is not two port numbers"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (f'ip_unprivileged_port_start: "{ARABIC_INDIC}"', f"{ARABIC_INDIC!r} is not a number"),
        (f'ip_local_port_range: "{SUPERSCRIPT} 60999"', "is not two port numbers"),
        ('ip_local_reserved_ports: "8080,x"', "'x' is not a port or port range"),
        ('ip_local_port_range: "60999-32768"', "the range start 60999 is above its end 32768"),
    ],
)
def test_config_kernel_values_are_a_config_error(tmp_path: Path, setting: str, expected: str) -> None:
    write_tree(
        tmp_path,
        {
            ".portpolicy.yml": f"kernel:\n  {setting}\n",
            "etc/sysctl.conf": "net.ipv4.ip_local_port_range = 32768 60999\n",
        },
    )
    (tmp_path / ".git").mkdir()  # the config search stops at the repository root
    run = run_bounded("check", ".", cwd=tmp_path)
    assert not run.crashed and run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and ".portpolicy.yml" in lines[0] and expected in lines[0], run.stderr


RULE = """\
id: ACME100
name: database-port-published
severity: error
summary: A database port is published.
rationale: Databases are reached through the application network.
remediation: Do not publish it.
match:
  fact: listener
  where:
    all:
      - {{field: ports, op: overlaps, value: "3306,{port}"}}
report:
  message: "{{service}} publishes {{protocol}}/{{ports}}"
"""


@pytest.mark.parametrize(
    "port", [ARABIC_INDIC, SUPERSCRIPT, HUGE, "70000"], ids=["arabic", "superscript", "huge", "70000"]
)
def test_custom_rule_port_literals_are_ascii_ports(tmp_path: Path, port: str) -> None:
    """A rule directory can come with the pull request: its literal ports are checked like any port."""
    write_tree(
        tmp_path,
        {
            "policy/acme100.yml": RULE.format(port=port),
            "compose.yaml": 'services:\n  db:\n    image: postgres\n    ports: ["5432:5432"]\n',
        },
    )
    run = run_bounded("check", "--no-config", "--rules-dir", "policy", ".", cwd=tmp_path)
    assert not run.crashed and run.returncode == 2, run.stderr
    line = run.stderr.strip()
    assert "acme100.yml" in line and f"{shown(f'3306,{port}')!r} is not a port" in line, line
    assert len(line) < 300, line


# --- saved live facts -------------------------------------------------------------------------------------


def _valid_facts() -> dict[str, object]:
    return live.gather(str(FIXTURES / "live" / "host"), byteorder="little")


def _live_from(tmp_path: Path, text: str) -> tuple[int, str]:
    saved = tmp_path / "facts.json"
    saved.write_text(text, encoding="utf-8")
    run = run_bounded("live", "--from", str(saved), "--no-config", cwd=tmp_path)
    assert not run.crashed, run.stderr
    return run.returncode, run.stderr


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda f: f["listeners"][0].update(protocol=["tcp"]),
            "listeners[0].protocol: must be str, not a list",
        ),
        (lambda f: f["listeners"][1].update(port=True), "listeners[1].port: must be int, not True"),
        (lambda f: f["listeners"][1].update(port=70000), "listeners[1].port: 70000 is outside 1-65535"),
        (lambda f: f["listeners"][2].update(address="not-an-ip"), "'not-an-ip' is not an IP address"),
        (
            lambda f: f["sysctls"].update({"net.ipv4.ip_unprivileged_port_start": SUPERSCRIPT}),
            f"ip_unprivileged_port_start = {SUPERSCRIPT!r} is not in the format the kernel prints",
        ),
        (
            lambda f: f["sysctls"].update({"net.ipv4.ip_local_port_range": f"{HUGE} 60999"}),
            "ip_local_port_range = '9999999999999999999999999999999999999999' is not in the format",
        ),
        (lambda f: f.update(version="1"), "port facts of format version 1 expected, not '1'"),
        (lambda f: f.update(errors=[{"path": "/proc/net/tcp"}]), "errors[0] has no 'message'"),
    ],
)
def test_malformed_saved_facts_are_exit_2_naming_the_field(
    tmp_path: Path, mutate: object, expected: str
) -> None:
    facts = _valid_facts()
    mutate(facts)  # type: ignore[operator]
    code, stderr = _live_from(tmp_path, json.dumps(facts))
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1, stderr
    assert lines[0].startswith(f"portpolicy: error: {tmp_path / 'facts.json'}: ") and expected in lines[0], (
        stderr
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 100000 + "]" * 100000, "JSON nested too deeply"),
        ('{"version": 1, "x": ' + "[" * 50 + "]" * 50 + "}", "nested deeper than port facts ever are"),
        ('{"version": 1, "listeners": [{"protocol": "tcp", "port": ' + "9" * 5000 + "}]}", "not JSON"),
        ("\xff\xfe", "cannot read facts"),
    ],
    ids=["deep-json", "deep-document", "5000-digit-port", "not-json"],
)
def test_unreadable_saved_facts_are_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    code, stderr = _live_from(tmp_path, text)
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and expected in stderr, stderr


def test_saved_facts_must_be_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "facts.json"
    os.mkfifo(fifo)
    run = run_bounded("live", "--from", str(fifo), "--no-config", cwd=tmp_path, timeout=20)
    assert not run.crashed and run.returncode == 2 and "not a regular file" in run.stderr, run.stderr


FUZZ = textwrap.dedent(
    """
    import contextlib, io, json, random, sys
    from portpolicy import cli

    with open({facts!r}, encoding="utf-8") as fh:
        valid = json.load(fh)
    rng = random.Random(20)
    POOL = ["\\u00b2", "\\u0668\\u0660", "9" * 5000, 10**30, -1, True, None, [], {{}}, "", "x" * 5000,
            [[[[[[[[1]]]]]]]], {{"a": {{"b": {{"c": {{"d": {{}}}}}}}}}}, 1.5, "tcp", 80]

    def mutate(node, depth=0):
        if isinstance(node, dict) and node and rng.random() < 0.8:
            key = rng.choice(sorted(node))
            node[key] = mutate(node[key], depth + 1) if rng.random() < 0.6 else rng.choice(POOL)
            return node
        if isinstance(node, list) and node and rng.random() < 0.8:
            i = rng.randrange(len(node))
            node[i] = mutate(node[i], depth + 1) if rng.random() < 0.6 else rng.choice(POOL)
            return node
        return rng.choice(POOL)

    codes = {{}}
    for n in range(300):
        doc = json.loads(json.dumps(valid))
        if n % 3 == 0:
            text = json.dumps(doc)
            data = bytearray(text.encode())
            for _ in range(rng.randrange(1, 8)):
                data[rng.randrange(len(data))] = rng.choice(b'[]{{}}",:0123456789\\xb2 ')
            text = data.decode("utf-8", "replace")
        else:
            for _ in range(rng.randrange(1, 4)):
                doc = mutate(doc)
            text = json.dumps(doc)
        with open({path!r}, "w", encoding="utf-8") as fh:
            fh.write(text)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["live", "--from", {path!r}, "--no-config", "--format", "json"])
        codes[code] = codes.get(code, 0) + 1
        if code not in (0, 1, 2) or "Traceback" in err.getvalue() or "internal error" in err.getvalue():
            print("FAILED", n, code, err.getvalue()[-500:], text[:300])
            sys.exit(1)
        if code == 2 and len(err.getvalue().strip().splitlines()) != 1:
            print("NOT ONE LINE", n, err.getvalue()[-500:])
            sys.exit(1)
    print(json.dumps(codes, sort_keys=True))
    """
)


def test_fuzzed_saved_facts_never_crash(tmp_path: Path) -> None:
    """300 mutations of valid facts (fixed seed): exit 0, 1 or 2 with one line, never a traceback."""
    facts = tmp_path / "valid.json"
    facts.write_text(json.dumps(_valid_facts()))
    code = FUZZ.format(facts=str(facts), path=str(tmp_path / "mutated.json"))
    run = run_python_bounded(code, cwd=tmp_path, timeout=120)
    assert not run.crashed and run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    codes = json.loads(run.stdout.strip().splitlines()[-1])
    assert codes.get("2", 0) > 100 and codes.get("0", 0) + codes.get("1", 0) > 0, codes  # both paths taken


def test_gathered_facts_always_pass_the_check() -> None:
    facts = _valid_facts()
    live_audit.check_facts(facts)
    facts["sysctls"] = {"net.ipv4.ip_local_port_range": "5"}  # a kernel never prints one number
    with pytest.raises(live_audit.FactsError, match="not in the format the kernel prints"):
        live_audit.check_facts(facts)


# --- the Ansible action -----------------------------------------------------------------------------------


def test_ansible_check_action_fails_cleanly_on_hostile_facts(tmp_path: Path) -> None:
    """The action plugin gets facts as a task argument: a clean failure naming the field, no int() error."""
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(
        textwrap.dedent(
            f"""\
            - hosts: all
              gather_facts: false
              tasks:
                - portpolicy.audit.check:
                    live: false
                    facts:
                      version: 1
                      listeners: []
                      sysctls:
                        net.ipv4.ip_unprivileged_port_start: "{SUPERSCRIPT}"
            """
        ),
        encoding="utf-8",
    )
    local = Path(sys.executable).parent / "ansible-playbook"
    tool = str(local) if local.exists() else shutil.which("ansible-playbook") or "ansible-playbook"
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PYTHONPATH": str(REPO),
    }
    interpreter = f"ansible_python_interpreter={sys.executable}"
    result = subprocess.run(
        [tool, "-i", "localhost,", "-c", "local", "-e", interpreter, str(playbook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "invalid literal" not in result.stdout and "Traceback" not in result.stdout
    assert (
        "portpolicy: sysctls: net.ipv4.ip_unprivileged_port_start = '\\u00b2' is not in the format the kernel prints"
        in result.stdout
        or f"ip_unprivileged_port_start = '{SUPERSCRIPT}' is not in the format the kernel prints"
        in result.stdout
    ), result.stdout
