"""Recognition of Compose files: by Compose's default names, or YAML that says ``services``."""

from portpolicy.signatures import Signature, delegated


def looks(text: str) -> bool:
    """Cheap text test before any YAML is composed: a compose file must say ``services``."""
    return "services" in text


_BASE = delegated("compose", "a Compose file", yaml=True)
SIGNATURE = Signature(_BASE.name, _BASE.module, _BASE.title, _BASE.named, looks=looks, yaml=True)
