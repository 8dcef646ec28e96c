"""Recognition of sshd config: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("sshd", "an sshd config")
