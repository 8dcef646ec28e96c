"""Recognition of iptables ruleset or firewall script: transitional, by the reader's own name test."""

from portpolicy.signatures import delegated

SIGNATURE = delegated("iptables", "an iptables ruleset or firewall script")
