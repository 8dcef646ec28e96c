"""Recognition of Apache httpd config: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("apache", "an Apache httpd config")
