"""Recognition of Kubernetes manifests: YAML whose objects say ``apiVersion`` and ``kind``."""

from portpolicy.signatures import Signature, delegated


def looks(text: str) -> bool:
    """Cheap text test before YAML is composed: every object says ``apiVersion`` and ``kind``."""
    return "apiVersion" in text and "kind" in text


_BASE = delegated("kubernetes", "a Kubernetes manifest", yaml=True)
SIGNATURE = Signature(_BASE.name, _BASE.module, _BASE.title, _BASE.named, looks=looks, yaml=True)
