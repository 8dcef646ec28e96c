"""Ansible content: playbooks, roles, inventories and variables, read statically.

Nothing here imports Ansible or Jinja2: a small sandboxed Jinja subset (the ``jinja`` package) resolves
what can be resolved, and everything else stays unresolved. ``project.py`` is the stage the
pipeline calls; the other modules each do one job (structure, inventory, precedence, tasks).
"""
