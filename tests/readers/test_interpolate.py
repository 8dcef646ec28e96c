"""One reading of ``$VAR`` / ``${VAR...}`` for Compose and BuildKit, each with its own syntax."""

from __future__ import annotations

from portpolicy.readers.dockerfile.words import expand_word as _expand
from portpolicy.readers.dotenv import UNKNOWN, interpolate
from portpolicy.readers.interpolate import BUILDKIT, COMPOSE, reference_at


def test_double_dollar_is_a_literal_in_compose_only() -> None:
    assert reference_at("$$HOME", 0, COMPOSE).literal == "$"
    assert reference_at("$$HOME", 0, BUILDKIT).literal == "$"
    assert reference_at("$$HOME", 0, BUILDKIT).end == 1  # the second '$' starts $HOME
    assert interpolate("$$PORT") == ("$PORT", None)
    assert _expand("$$PORT", {"PORT": "80"}) == ("$80", None)


def test_nested_braces_close_where_compose_closes_them() -> None:
    text = "${A:-${B:-80}}x"
    compose, buildkit = reference_at(text, 0, COMPOSE), reference_at(text, 0, BUILDKIT)
    assert (compose.name, compose.modifier, text[compose.end :]) == ("A", ":-${B:-80}", "x")
    assert (buildkit.modifier, text[buildkit.end :]) == (":-${B:-80", "}x")
    assert interpolate(text) == ("80x", None)


def test_required_is_compose_syntax_and_unknown_to_buildkit() -> None:
    assert reference_at("${PORT:?set it}", 0, COMPOSE).valid
    assert not reference_at("${PORT:?set it}", 0, BUILDKIT).valid
    assert _expand("${PORT:?set it}", {"PORT": "80"}) == (UNKNOWN, None)


def test_a_brace_that_never_closes_and_a_body_without_a_name() -> None:
    unclosed = reference_at("a${PORT", 1, COMPOSE)
    assert (unclosed.closed, unclosed.end) == (False, 7)
    nameless = reference_at("${1}:80", 0, BUILDKIT)
    assert (nameless.name, nameless.body, nameless.end) == (None, "1", 4)
    assert interpolate("a${PORT")[1] == "is an invalid interpolation ('${' without '}')"
    assert _expand("${1}:80", {}) == (UNKNOWN + ":80", "has a bad substitution '${1}'")


def test_a_dollar_that_starts_no_variable_is_kept() -> None:
    assert reference_at("$ 80", 0, COMPOSE).literal == "$"
    assert interpolate("cost: $5") == ("cost: $5", None)
