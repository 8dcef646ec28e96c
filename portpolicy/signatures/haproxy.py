"""Recognition of HAProxy config: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("haproxy", "an HAProxy config")
