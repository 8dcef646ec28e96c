"""Recognition of nftables ruleset: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("nftables", "an nftables ruleset")
