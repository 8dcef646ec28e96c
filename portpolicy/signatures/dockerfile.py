"""Recognition of Dockerfile: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("dockerfile", "a Dockerfile")
