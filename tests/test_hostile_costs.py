"""Hostile input costs time linear in its size (issue #20).

Each case below once cost quadratic, cubic or exponential time in a regex, a ``shlex``
split, a string built one piece at a time or a search repeated from every position. The
scaling test measures each case at two sizes in one bounded child (CPU time, the best of
five runs with the collector paused, so a busy CI machine does not decide) and asserts that doubling the input at
most about doubles the time. The CLI tests run the reported inputs end to end and assert
the finding or the refusal they must give.
"""

from __future__ import annotations

import gc
import itertools
import json
import resource
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hostile import ChildRun, run_bounded, run_python_bounded

RATIO = 2.5
"""Doubling the input may cost at most this factor (linear: 2; quadratic: 4)."""
SLACK = 0.02
"""Seconds of measurement noise allowed on top, for cases that take milliseconds."""
CASE_SECONDS = 10
"""A case slower than this at either size has regressed, whatever its ratio."""


def _read(path: str) -> Callable[[str], Any]:
    """Run the path reader that claims ``path`` on a text, as the pipeline does."""

    def run(text: str) -> Any:
        from portpolicy import recognise, signatures
        from portpolicy.readers.base import Source

        found = recognise.named(path)
        assert found, path
        reader = signatures.reader(found[0])
        facts = list(reader.read(Source(path, text)))
        join = getattr(reader, "assemble", None)
        return join(facts) if join else facts

    return run


def _call(module: str, attribute: str, *args: Any) -> Callable[[Any], Any]:
    """Run ``module.attribute(*args, input)`` (``attribute`` may be dotted: a regex's method)."""

    def run(value: Any) -> Any:
        import importlib

        target: Any = importlib.import_module(module)
        for name in attribute.split("."):
            target = getattr(target, name)
        return target(*args, value)

    return run


def _nginx_include(pattern: str) -> bool:
    from portpolicy.readers.nginx import _glob_matches

    return _glob_matches(pattern, "a" * 60)


_CALLS = itertools.count()


def _fresh(pattern: str) -> str:
    """``pattern`` made new at each call: ``fnmatch`` caches what it translated, and the
    best of five runs would time the cache, not the translation."""
    return f"{pattern}{next(_CALLS)}"


def _inventory_match(pattern: str) -> Any:
    """A play's ``hosts`` pattern against a small inventory."""
    from portpolicy.ansible.inventory import Inventory

    inv = Inventory()
    for i in range(5):
        inv.add_host(f"web{i}", f"web{i}.example.com")
    return inv.match(_fresh(pattern))


def _config_hosts_path(pattern: str) -> Any:
    """A ``hosts:`` path pattern of the repository's own ``.portpolicy.yml``."""
    from portpolicy.config import Config, HostConfig
    from portpolicy.hosts import scope_of

    config = Config(hosts=(HostConfig("web", paths=(_fresh(pattern),)),))
    return scope_of("etc/nginx/nginx.conf", "nginx", config)


def _copy_source(pattern: str) -> Any:
    """A Dockerfile's ``COPY`` source glob against a scanned file's path."""
    from portpolicy.model import Location
    from portpolicy.placement import _inside, _Source

    source = _Source(f"conf/{_fresh(pattern)}", "/etc/nginx/conf.d/", Location("Dockerfile", 2), "copy", True)
    return _inside("conf/a.conf", source)


def _ini_inventory(text: str) -> Any:
    from portpolicy.ansible.inventory import Inventory, read_ini

    inv = Inventory()
    read_ini(inv, "hosts", text)
    return inv


def _free_form_args(text: str) -> Any:
    """A task's legacy ``k=v`` module arguments (``- command: TEXT``)."""
    import yaml

    from portpolicy.ansible.args import parse_args

    node = yaml.ScalarNode("tag:yaml.org,2002:str", text, yaml.Mark("t.yml", 0, 0, 0, None, 0))
    return parse_args("t.yml", node, None)


def _shell_variables(n: int) -> str:
    return "".join(f"V{i}=/sbin/iptables\n" for i in range(n)) + "echo $X\n" * n + "iptables -P INPUT DROP\n"


CASES: dict[str, tuple[int, Callable[[int], Any], Callable[[Any], Any]]] = {
    # name: (size, make input of a size, run on it)
    "unclosed {# in a template": (20_000, lambda n: "{#" * n, _call("portpolicy.readers.base", "mask_jinja")),
    "unclosed {{ in nginx": (
        20_000,
        lambda n: "server {\n  listen 80 " + "{{" * n + ";\n}\n",
        _read("etc/nginx/conf.d/x.conf"),
    ),
    "unclosed ${ in nginx": (
        100_000,
        lambda n: "server {\n  listen 80;\n}\nset $a " + "${" * n + ";\n",
        _read("etc/nginx/conf.d/x.conf"),
    ),
    "long word in an iptables script": (
        200_000,
        lambda n: "iptables -A INPUT -p tcp --dport 22 -m comment --comment " + "x" * n + " -j ACCEPT\n",
        _read("firewall.sh"),
    ),
    "long word in iptables-save": (
        200_000,
        lambda n: (
            "*filter\n-A INPUT -p tcp --dport 22 -m comment --comment " + "x" * n + " -j ACCEPT\nCOMMIT\n"
        ),
        _read("etc/iptables/rules.v4"),
    ),
    "long word in a ufw line": (
        200_000,
        lambda n: "ufw allow 22/tcp comment " + "x" * n + "\n",
        _read("setup.sh"),
    ),
    "many words in a ufw line": (20_000, lambda n: "ufw allow " + "in " * n + "22\n", _read("setup.sh")),
    "long firewall-cmd rich rule": (
        200_000,
        lambda n: "firewall-cmd --add-rich-rule='rule " + "x" * n + " accept'\n",
        _read("setup.sh"),
    ),
    "words spelt otherwise in the raw line": (
        20_000,
        lambda n: "iptables -A INPUT " + "'a'b " * n + "--dport 22 -j ACCEPT\n",
        _read("firewall.sh"),
    ),
    "backslash continuations": (
        20_000,
        lambda n: "iptables -A INPUT \\\n" + "  -p tcp \\\n" * n + "  -j ACCEPT\n",
        _read("firewall.sh"),
    ),
    "many shell variables": (2_000, _shell_variables, _read("firewall.sh")),
    "blank lines before a play": (
        2_000,
        lambda n: "\n" * n,
        _call("portpolicy.ansible.locate", "_PLAYBOOK_SNIFF.search"),
    ),
    "a line of blanks before a play": (
        20_000,
        lambda n: " " * n + "\n",
        _call("portpolicy.ansible.locate", "_PLAYBOOK_SNIFF.search"),
    ),
    "a host pattern of unclosed [": (3_000, lambda n: "web" + "[" * n, _inventory_match),
    "a config hosts path of unclosed [": (4_000, lambda n: "roles/" + "[" * n, _config_hosts_path),
    "a COPY source of unclosed [": (3_000, lambda n: "[" * n, _copy_source),
    "a long quoted INI inventory host line": (
        20_000,
        lambda n: "[web]\nh1 ansible_port=22 note='" + "x " * n + "' # c\n",
        _ini_inventory,
    ),
    "a long word in free-form module arguments": (20_000, lambda n: "a" * n, _free_form_args),
    "unclosed {{ in free-form module arguments": (4_000, lambda n: "a={{ " * n, _free_form_args),
    "unclosed {{ in sshd": (20_000, lambda n: "Port " + "{{" * n + "\n", _read("etc/ssh/sshd_config")),
    "unclosed {{ in apache": (20_000, lambda n: "Listen " + "{{" * n + "\n", _read("etc/apache2/ports.conf")),
    "unclosed {{ in haproxy": (
        20_000,
        lambda n: "frontend a\n  bind " + "{{" * n + "\n",
        _read("etc/haproxy/haproxy.cfg"),
    ),
    "unclosed {{ in a Dockerfile": (
        20_000,
        lambda n: "FROM a\nEXPOSE " + "{{" * n + "\n",
        _read("Dockerfile"),
    ),
    "unclosed {{ in Kubernetes": (
        20_000,
        lambda n: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + "{{" * n + "\n",
        _read("etc/kubernetes/manifests/p.yaml.j2"),
    ),
    "blanks before a daemon comment": (
        20_000,
        lambda n: "port 6379" + " " * n + "x\n",
        _read("etc/redis/redis.conf"),
    ),
    "blanks in a Dockerfile directive": (
        20_000,
        lambda n: "# escape=\\" + " " * n + "x\nFROM a\n",
        _read("Dockerfile"),
    ),
    "DOCTYPE internal subsets without >": (
        2_000,
        lambda n: "<!DOCTYPE zone " + "[a]" * n,
        _read("etc/firewalld/zones/x.xml"),
    ),
    "unclosed statement in a firewalld value": (
        10_000,
        lambda n: '<zone><port protocol="tcp" port="' + "{%" * n + "/></zone>\n",
        _read("etc/firewalld/zones/x.xml.j2"),
    ),
    "placeholders in a sysctl key": (12, lambda n: "{{a}}" * n + "x = 1\n", _read("etc/sysctl.d/x.conf")),
    "stars in an nginx include": (12, lambda n: "*a" * n + "b", _nginx_include),
    "comment lines with suppressions": (
        10_000,
        lambda n: "# noqa: PP001\n" * n,
        _call("portpolicy.suppress", "parse", "x.conf"),
    ),
    "unclosed ignore[ in a comment": (
        5_000,
        lambda n: "# portpolicy: ignore[" * n + "\n",
        _call("portpolicy.suppress", "parse", "x.conf"),
    ),
}


class _TooSlow(BaseException):
    """Not an Exception: readers catch those, and a case must not look fast by being cut short."""


def _timed(run: Callable[[Any], Any], value: Any) -> float:
    def give_up(signum: int, frame: Any) -> None:
        raise _TooSlow

    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(CASE_SECONDS)
    gc.collect()  # a collection of earlier cases' garbage must not land inside this measurement
    gc.disable()
    try:
        start = time.process_time()
        run(value)
        return time.process_time() - start
    except _TooSlow:
        return float("inf")
    finally:
        gc.enable()
        signal.alarm(0)


def measure_all() -> dict[str, list[float]]:
    """Each case's best CPU time of five at its size and at twice its size, the two sizes taking
    turns (run in a child)."""
    out: dict[str, list[float]] = {}
    for name, (size, make, run) in CASES.items():
        values = [make(size), make(2 * size)]
        times = [float("inf"), float("inf")]
        for attempt in range(5):  # interleaved: a slow spell of the machine hits both sizes alike
            for i, value in enumerate(values):
                if attempt and times[i] == float("inf"):
                    continue  # cut short once already: it stays too slow
                times[i] = min(times[i], _timed(run, value))
        out[name] = times
    return out


@pytest.fixture(scope="module")
def timings() -> dict[str, list[float]]:
    code = "import json\nfrom tests.test_hostile_costs import measure_all\nprint(json.dumps(measure_all()))\n"
    run = run_python_bounded(code, timeout=600)
    assert not run.crashed, run.stderr[-3000:]
    measured: dict[str, list[float]] = json.loads(run.stdout.replace("Infinity", "1e9"))
    return measured


@pytest.mark.parametrize("case", sorted(CASES))
def test_doubling_the_input_at_most_doubles_the_time(timings: dict[str, list[float]], case: str) -> None:
    small, large = timings[case]
    assert large < CASE_SECONDS, f"{case}: {large:.2f} s at twice the size"
    assert large <= RATIO * small + SLACK, f"{case}: {small:.3f} s -> {large:.3f} s when the input doubles"


# --- end to end: the reported inputs, through the CLI ---------------------------------------------


def _cpu_of(run: Callable[[], ChildRun]) -> tuple[ChildRun, float]:
    """The child's CPU seconds (user and system): wall time says more about the machine's load."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _check_json(root: Path, *extra: str) -> tuple[dict[str, Any], float]:
    done, cpu = _cpu_of(
        lambda: run_bounded(
            "check", "--format", "json", "--fail-on", "never", "--no-config", *extra, ".", cwd=root
        )
    )
    assert not done.crashed, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report, cpu


def test_blank_lines_and_a_line_of_blanks_in_yaml_are_read_in_seconds(tmp_path: Path) -> None:
    """2,000 blank lines took 116 s of CPU and a line of 20,000 spaces 17 s; ten times as many now."""
    (tmp_path / "blank.yml").write_text("\n" * 20_000)
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        + " " * 200_000
        + "\n  jenkins:\n    image: jenkins\n    ports:\n      - '50000:50000'\n"
    )
    report, cpu = _check_json(tmp_path)
    assert [(f["rule"], f["path"], f["line"]) for f in report["findings"]] == [("PP002", "compose.yaml", 6)]
    assert cpu < 5, f"{cpu:.1f} s of CPU"


BLANKS = ["\x0c", "\x0b", "\u00a0", "\u2028", "\x1c", "\x1d", "\x1e", "\x1f", "\u3000"]


def test_odd_blanks_in_nftables_separate_words_and_never_loop(tmp_path: Path) -> None:
    """One form feed made the tokenizer append empty tokens until memory ran out."""
    for i, blank in enumerate(BLANKS):
        rules = (
            "table inet filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n"
            f"    tcp dport{blank}40000-50000 accept\n  }}\n}}\n"
        )
        path = tmp_path / f"h{i}" / "etc" / "nftables.conf"
        path.parent.mkdir(parents=True)
        path.write_text(rules)
    report, cpu = _check_json(tmp_path)
    opened = sorted(f["path"] for f in report["findings"] if f["rule"] == "PP003")
    assert opened == sorted(f"h{i}/etc/nftables.conf" for i in range(len(BLANKS)))
    assert cpu < 10, f"{cpu:.1f} s of CPU"


def _bomb(prefix: str, indent: str = "") -> str:
    """Anchors of ten aliases each, seven deep: ten million nodes once expanded."""
    out = f'{indent}{prefix}0: &a0 ["80", "80", "80", "80", "80", "80", "80", "80", "80", "80"]\n'
    for level in range(1, 8):
        aliases = ", ".join([f"*a{level - 1}"] * 10)
        out += f"{indent}{prefix}{level}: &a{level} [{aliases}]\n"
    return out


def test_alias_bombs_are_refused_as_pp000_in_compose_kubernetes_and_ansible(tmp_path: Path) -> None:
    files = {
        "compose.yaml": _bomb("x-b") + "services:\n  web:\n    image: nginx\n    ports: *a7\n",
        "etc/kubernetes/manifests/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
        + _bomb("b", "    ")
        + "spec:\n  containers:\n    - name: c\n      image: x\n      args: *a7\n",
        "ansible/group_vars/all.yml": _bomb("b") + "p: 80\n",
        "ansible/site.yml": '- hosts: all\n  tasks:\n    - ansible.posix.firewalld:\n        port: "{{ p }}/tcp"\n',
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    report, cpu = _check_json(tmp_path)
    refused = sorted(
        f["path"] for f in report["findings"] if f["rule"] == "PP000" and "alias bomb" in f["message"]
    )
    assert refused == ["ansible/group_vars/all.yml", "compose.yaml", "etc/kubernetes/manifests/pod.yaml"]
    assert cpu < 10, f"{cpu:.1f} s of CPU"


def test_a_hostile_play_pattern_and_free_form_arguments_are_read_in_seconds(tmp_path: Path) -> None:
    """A 40 KB ``hosts: web[[[…`` took minutes in fnmatch; a long free-form argument, quadratic regex time."""
    (tmp_path / "inventory").write_text("[web]\nweb1 note='" + "x " * 20_000 + "'\n")
    (tmp_path / "ansible.cfg").write_text("[defaults]\ninventory = inventory\n")
    (tmp_path / "site.yml").write_text(
        '- hosts: "web' + "[" * 40_000 + '"\n  tasks:\n'
        "    - command: " + "a={{ " * 20_000 + "\n"
        "    - command: " + "a" * 100_000 + "\n"
        "    - ansible.posix.sysctl:\n        name: net.ipv4.ip_local_port_range\n"
        '        value: "40000 30000"\n'
    )
    report, cpu = _check_json(tmp_path)
    assert [(f["rule"], f["path"], f["line"]) for f in report["findings"]] == [("PP006", "site.yml", 7)]
    assert cpu < 5, f"{cpu:.1f} s of CPU"
