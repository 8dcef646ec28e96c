# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portpolicy authors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0.txt)
"""The parsers the port_facts module runs on managed hosts (ansible-test units)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portpolicy.audit.plugins.module_utils.live import decode_endpoint, gather, parse_proc_net

TCP = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18210 1 0 100 0 0 10 0\n"
    "   1: 0F02000A:0016 0202000A:C764 01 00000000:00000000 00:00000000 00000000     0        0 40112 1 0 100 0 0 10 0\n"
    "   2: 0100007F:1F90 00000000:0000 0A\n"
)


def test_decode_little_endian_ipv4():
    assert decode_endpoint("0100007F:1F90", "little") == ("127.0.0.1", 8080, "ipv4")


def test_decode_v4_mapped_ipv6():
    assert decode_endpoint("0000000000000000FFFF00000100007F:0050", "little") == ("127.0.0.1", 80, "ipv4")


def test_decode_refuses_garbage():
    with pytest.raises(ValueError):
        decode_endpoint("nonsense")


def test_parse_keeps_listeners_and_reports_bad_lines():
    errors = []
    found = parse_proc_net(TCP, "tcp", "/proc/net/tcp", errors, "little")
    assert [(x["port"], x["uid"], x["line"]) for x in found] == [(22, 0, 2)]
    assert [e["line"] for e in errors] == [4]


def test_gather_on_an_empty_root_reports_errors(tmp_path):
    facts = gather(str(tmp_path))
    assert facts["listeners"] == []
    assert [e["path"] for e in facts["errors"]] == [
        "/proc/net/tcp",
        "/proc/net/udp",
        "/proc/sys/net/ipv4/ip_local_port_range",
        "/proc/sys/net/ipv4/ip_local_reserved_ports",
    ]
