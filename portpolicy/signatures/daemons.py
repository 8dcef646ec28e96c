"""Recognition of daemon config: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("daemons", "a daemon config")
