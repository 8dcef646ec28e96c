"""Recognition of firewalld configuration: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("firewalld", "a firewalld configuration")
