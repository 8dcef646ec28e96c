"""``python -m tests.golden``: record the reports of every golden case again."""

from tests.golden import update

update()
