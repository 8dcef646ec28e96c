"""Helm charts, rendered offline by Helm's own engine and read as the manifests they become.

A folder holding ``Chart.yaml`` is a chart: its files are claimed by this stage (the
per-file readers neither read nor skip them), each chart that can be installed is rendered
as one release (``charts`` finds charts, their dependencies and values; ``package`` builds
the chart archive from files read under the scanned roots; ``render`` is the one module
that touches Helm, either a ``helm`` executable or the ``helm-python-sdk`` package), in a
child process with a time and memory limit (``child``), and the rendered manifests go to
the Kubernetes reader as files of the chart (``stage``), their findings moved back to the
template and values lines (``lines``).

Nothing here is imported for a tree with no ``Chart.yaml``; this module imports nothing.
"""
