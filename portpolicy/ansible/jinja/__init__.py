"""A small sandboxed Jinja subset: expressions, filters, tests and ``.j2`` templates.

Ansible content hides ports behind ``{{ expressions }}``. Importing Jinja2 (or Ansible) is
not an option in the CLI path, and executing scanned content never is, so this package
evaluates the part of the language that port values use and refuses everything else:
anything it cannot evaluate raises ``Unknown`` (with a reason) and the caller leaves the
value unresolved. It never guesses.

One job per module, each importing only those before it:

* ``values``: ``Unknown`` and its kin, ``OMIT``, and the language's view of plain values.
* ``budget``: the limits and the ``Budget`` every evaluation spends (read its docstring).
* ``lexer`` and ``parser``: expression text into a tree of tuples.
* ``operations``: operators, attribute and item access, method calls: the sandbox.
* ``regex_filters``, ``predicates``, ``filters``: the tables of tests and filters.
* ``evaluator``: a tree's value, guarded: a stray exception becomes ``Unknown``.
* ``formatting``: ``%``-formatting and ``str.format``, every specifier bounded.
* ``template_syntax`` and ``templates``: ``.j2`` templates read into blocks, and rendered
  (macros, blocks, and the templates ``import``/``from``/``extends`` read through a
  ``Loader``).

Callers import from here (``from portpolicy.ansible.jinja import Unknown, render``).
"""

from portpolicy.ansible.jinja.budget import (
    MAX_INT_BITS,
    MAX_ITERATIONS,
    MAX_LENGTH,
    MAX_LITERAL_DIGITS,
    MAX_NESTING,
    MAX_OUTPUT,
    MAX_ROUND_DIGITS,
    MAX_STEPS,
    MAX_TEMPLATE_STEPS,
    MAX_VALUE_DEPTH,
    MAX_VALUE_SIZE,
    Budget,
    check_int,
    check_length,
    measure,
)
from portpolicy.ansible.jinja.evaluator import Evaluator, evaluate, guarded
from portpolicy.ansible.jinja.filters import FILTERS
from portpolicy.ansible.jinja.operations import to_string
from portpolicy.ansible.jinja.parser import MAX_CACHED, Node, parse
from portpolicy.ansible.jinja.predicates import TESTS
from portpolicy.ansible.jinja.templates import (
    Loader,
    Rendered,
    folder_loader,
    has_template,
    iter_names,
    render,
    template_string,
)
from portpolicy.ansible.jinja.values import (
    OMIT,
    BudgetExceeded,
    Resolver,
    TemplateSyntaxError,
    Undefined,
    Unknown,
    UnknownValue,
    truth,
)

__all__ = [
    "FILTERS",
    "MAX_CACHED",
    "MAX_INT_BITS",
    "MAX_ITERATIONS",
    "MAX_LENGTH",
    "MAX_LITERAL_DIGITS",
    "MAX_NESTING",
    "MAX_OUTPUT",
    "MAX_ROUND_DIGITS",
    "MAX_STEPS",
    "MAX_TEMPLATE_STEPS",
    "MAX_VALUE_DEPTH",
    "MAX_VALUE_SIZE",
    "OMIT",
    "TESTS",
    "Budget",
    "BudgetExceeded",
    "Evaluator",
    "Loader",
    "Node",
    "Rendered",
    "Resolver",
    "TemplateSyntaxError",
    "Undefined",
    "Unknown",
    "UnknownValue",
    "check_int",
    "check_length",
    "evaluate",
    "folder_loader",
    "guarded",
    "has_template",
    "iter_names",
    "measure",
    "parse",
    "render",
    "template_string",
    "to_string",
    "truth",
]
