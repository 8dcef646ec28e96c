"""Recognition of systemd unit: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("systemd", "a systemd unit")
