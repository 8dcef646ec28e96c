"""Recognition of sysctl file: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("sysctl", "a sysctl file")
