"""Recognition of Kubernetes manifests: YAML whose objects say ``apiVersion`` and ``kind``.

By name: YAML Jinja templates (read with their Jinja masked), static pods and kubeadm
configs (a static pod that does not parse is PP000, not unrecognised YAML); every other
manifest is recognised by content, then by the reader's ``claims`` on the documents.
"""

from portpolicy.lazyre import lazy
from portpolicy.signatures import Signature

_J2_NAME = lazy(r".+\.(?:ya?ml|manifest)\.j2")
_STATIC_POD = lazy(r"(?:^|.*/)etc/kubernetes/manifests/[^/]+\.ya?ml")
_KUBEADM_NAME = lazy(r"kubeadm(?:[-_.](?:config|init|join|cluster)[^/]*)?\.ya?ml")


def named(rel: str) -> bool:
    base = rel.rsplit("/", 1)[-1]
    return bool(_J2_NAME.fullmatch(base) or _STATIC_POD.fullmatch(rel) or _KUBEADM_NAME.fullmatch(base))


def is_static_pod_path(rel: str) -> bool:
    """A file the kubelet runs as a static pod (``etc/kubernetes/manifests/*.yaml``)."""
    return _STATIC_POD.fullmatch(rel) is not None


def looks(text: str) -> bool:
    """Cheap text test before YAML is composed: every object says ``apiVersion`` and ``kind``."""
    return "apiVersion" in text and "kind" in text


SIGNATURE = Signature(
    "kubernetes",
    "portpolicy.readers.kubernetes",
    "a Kubernetes manifest",
    named,
    looks=looks,
    yaml=True,
    role="pods",
    scope="directory",
)
