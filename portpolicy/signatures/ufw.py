"""Recognition of ufw configuration: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("ufw", "a ufw configuration")
