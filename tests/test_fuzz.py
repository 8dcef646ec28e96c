"""Fuzzing in CI: a fixed seed, a few hundred mutated inputs per format, no failure allowed.

Each format's inputs run in child processes with ``RLIMIT_AS`` (1 GiB) and a time bound
proportional to the batch (``tests/fuzz.py``); one batch per scanned format goes through
the CLI. A failure is pinned on one input and shown with its bytes and traceback. Longer
local runs: ``python -m tests.fuzz --minutes N`` (figures in ``docs/robustness.md``).

The harness itself is tested too: a planted failure of each class must be seen, pinned on
the right input and shrunk, or the zero-failure assertions would prove nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portpolicy.recognise import claims
from tests import fuzz

SEED = 20_260_512
"""Fixed: the same inputs on every run, so a red build is reproducible locally."""
COUNTS = {
    "ansible": 60,
    "jinja-template": 80,
    "jinja-expr": 400,
    "jinja-render": 300,
    "live-facts": 100,
    "proc-net": 300,
}
DEFAULT_COUNT = 200
"""Inputs per reader format: sized so this file stays under two minutes on two busy cores."""
BATCH = 100

FORMATS = fuzz.load_formats()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_fuzzed_inputs_never_fail(name: str, tmp_path: Path) -> None:
    fmt = FORMATS[name]
    count = COUNTS.get(name, DEFAULT_COUNT)
    stats = fuzz.fuzz_format(fmt, SEED, count, tmp_path, batch_size=BATCH, jobs=2, cli_every=2)
    assert stats.inputs == count
    distinct = {f.signature: f for f in stats.failures}
    report = "\n\n".join(fuzz.describe(f) for f in distinct.values())
    assert not stats.failures, f"{len(stats.failures)} failing inputs, {len(distinct)} distinct:\n{report}"


@pytest.mark.parametrize("name", fuzz.FIXTURE_FORMATS)
def test_every_reader_format_has_seeds_its_reader_claims(name: str) -> None:
    fmt = FORMATS[name]
    assert len(fmt.seeds) >= 1
    focus = [(path, seed.files[path]) for seed in fmt.seeds for path in seed.focus]
    assert all(seed.focus for seed in fmt.seeds)
    # snippets from the reader tests include fragments no reader would claim as a whole file
    # (a container list without ``apiVersion``): fuzzing those tests recognition, not the reader
    claimed = [path for path, data in focus if claims(path, data.decode("utf-8", "replace"))]
    assert len(claimed) >= 0.7 * len(focus), sorted({p for p, _ in focus} - set(claimed))


def test_a_seed_always_gives_the_same_inputs_and_they_are_mutated() -> None:
    fmt = FORMATS["nginx"]
    first = fuzz.inputs(fmt, 7, 0, 60)
    assert fuzz.fingerprint(first) == fuzz.fingerprint(fuzz.inputs(fmt, 7, 0, 60))
    assert fuzz.fingerprint(first) != fuzz.fingerprint(fuzz.inputs(fmt, 8, 0, 60))
    originals = {data for seed in fmt.seeds for data in seed.files.values()}
    changed = [item for item in first if item.data not in originals]
    assert len(changed) >= 55
    assert all(len(item.data) <= fuzz.MAX_INPUT for item in first)


def _planted(*texts: bytes) -> list[fuzz.Input]:
    return [fuzz.Input("selftest", 0, i, {"input": t}, "input", ("planted",)) for i, t in enumerate(texts)]


SELFTEST = fuzz.Format("selftest", "selftest", [fuzz.Seed({"input": b"ok"}, ("input",))], cli=False)


def test_the_harness_pins_an_exception_on_its_input(tmp_path: Path) -> None:
    result = fuzz.run_batch(SELFTEST, _planted(b"ok", b"x RAISE", b"ok"), tmp_path)
    assert [(f.cls, f.input and f.input.index) for f in result.failures] == [("exception", 1)]
    assert "ValueError: planted" in result.failures[0].trace


def test_the_harness_stops_a_hang_and_names_the_input(tmp_path: Path) -> None:
    result = fuzz.run_batch(SELFTEST, _planted(b"ok", b"HANG"), tmp_path, limit=3.0)
    [failure] = result.failures
    assert (failure.cls, failure.input and failure.input.index) == ("timeout", 1)
    assert failure.detail == "over its CPU time bound"
    assert "_planted_hang" in failure.trace  # the child dumped where it hung


def test_the_harness_sees_the_memory_limit(tmp_path: Path) -> None:
    result = fuzz.run_batch(SELFTEST, _planted(b"ALLOC"), tmp_path)
    assert [(f.cls, f.input and f.input.index) for f in result.failures] == [("memory", 0)]


def test_a_batch_failure_is_bisected_and_shrunk_to_the_input_behind_it(tmp_path: Path) -> None:
    fmt = fuzz.Format("selftest", "selftest-batch", SELFTEST.seeds, cli=False)
    batch = _planted(*[b"ok\n"] * 5, b"line one\nxx RAISE yy\nline three\n", *[b"ok\n"] * 2)
    result = fuzz.run_batch(fmt, batch, tmp_path)
    [failure] = result.failures
    assert failure.input is None  # the child could not tell which input
    pinned = fuzz.pin(fmt, batch, failure, tmp_path)
    assert pinned.input is not None and pinned.input.index == 5
    small = fuzz.shrink(fmt, pinned, tmp_path, budget=60)
    assert small.input is not None and small.input.data == b"RAISE"


def test_a_failure_signature_names_the_innermost_portpolicy_frame() -> None:
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/x/portpolicy/pipeline.py", line 76, in scan\n'
        '  File "/x/portpolicy/readers/nginx.py", line 120, in read\n'
        '  File "/usr/lib/python3.11/re.py", line 5, in sub\n'
        "ValueError: bad\n"
    )
    failure = fuzz.Failure("exception", "nginx", None, "ValueError('bad')", trace)
    assert failure.signature == "exception ValueError at readers/nginx.py:120 read"


@pytest.mark.parametrize(
    ("out_format", "stdout", "unsafe"),
    [
        ("text", "000001/nginx.conf:1:1: PP005 port 'x'\n", False),
        ("text", "000001/nginx.conf:1:1: PP005 port '\x1b]0;owned\x07'\n", True),
        ("github", "::error file=000001/a::bidi \u202e here\n", True),
        ("json", '{"findings": []}', False),
        ("sarif", '{"runs": [}', True),
        ("junit", "<testsuites><testsuite/></testsuites>", False),
        ("junit", "<testsuites>\x01</testsuites>", True),
    ],
)
def test_cli_output_checks(out_format: str, stdout: str, unsafe: bool) -> None:
    assert (fuzz._unsafe_output(out_format, stdout) is not None) == unsafe
