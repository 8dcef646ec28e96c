"""ansible-lint rules shipped with portpolicy.

The wheel installs this directory as ``ansiblelint/rules/custom/portpolicy/``, where
ansible-lint loads every ``*.py`` as a top-level module by its file name: the rules live
in ``portpolicy_ansiblelint_rules.py`` (a unique name: a file called ``portpolicy.py``
would import as the portpolicy package instead and be dropped silently).
"""
