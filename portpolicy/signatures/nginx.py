"""Recognition of nginx config: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("nginx", "an nginx config")
