#!/usr/bin/env python3
"""Extracts a seed corpus for fuzz_decode from real captures.

Usage: make_seeds.py OUTDIR PCAP...   (classic pcap only; pcapng files are skipped)

For every capture it classifies packets by the layers they carry (VLAN, MPLS, GRE, VXLAN, IP-in-IP,
6in4, IPv6 extension headers, fragments, TCP options, ...) and keeps the first few of each kind,
each written as a single-packet input (mode byte = link type index, see fuzz_decode.c). IPv4 and
IPv6 fragments of one datagram are also written as a sequence input (mode bit 7).
The seeds are committed under tests/fuzz/corpus/decode/; re-running gives the same files.
"""
import hashlib
import os
import struct
import sys

LINK_INDEX = {1: 0, 101: 1, 228: 2, 229: 3, 113: 4, 276: 5, 0: 6, 108: 7}
PER_KIND = 2
KEEP_ETHER = {"ether0806", "ether8863", "ether8864", "ether88cc"}
KEEP_L4 = {"l4_50", "l4_132", "l4_2"}
JUNK_SKIP = set()
MAX_LEN = 1600


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None, []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
    pkts, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        if off + incl > len(data):
            break
        pkts.append(data[off:off + incl])
        off += incl
    return linktype, pkts


def kinds_ip(b, kinds, depth=0):
    """Appends kind names for an IP packet at b; returns a fragment key or None."""
    if len(b) < 1 or depth > 3:
        return None
    v = b[0] >> 4
    if v == 4 and len(b) >= 20:
        ihl = (b[0] & 15) * 4
        proto = b[9]
        fo = struct.unpack(">H", b[6:8])[0]
        if ihl > 20:
            kinds.append("ipv4opt")
        if fo & 0x3FFF:
            kinds.append("frag4")
            tot = struct.unpack(">H", b[2:4])[0]
            return (("4", b[12:20], b[4:6], proto), (fo & 0x1FFF) * 8, tot - ihl, bool(fo & 0x2000))
        return kinds_l4(proto, b[ihl:], kinds, depth)
    if v == 6 and len(b) >= 40:
        nh, off, n = b[6], 40, 0
        while nh in (0, 43, 44, 51, 60) and off + 8 <= len(b) and n < 10:
            kinds.append("ipv6ext%d" % nh)
            if nh == 44:
                fo = struct.unpack(">H", b[off + 2:off + 4])[0]
                plen = struct.unpack(">H", b[4:6])[0]
                return (("6", b[8:40], b[off + 4:off + 8]), fo & 0xFFF8, 40 + plen - off - 8, bool(fo & 1))
            hl = (b[off + 1] + 2) * 4 if nh == 51 else (b[off + 1] + 1) * 8
            nh, off, n = b[off], off + hl, n + 1
        return kinds_l4(nh, b[off:], kinds, depth)
    return None


def kinds_l4(proto, b, kinds, depth):
    if proto == 6 and len(b) >= 20:
        kinds.append("tcp")
        if (b[12] >> 4) > 5:
            kinds.append("tcpopt")
        if b[13] & 0x02:
            kinds.append("tcpsyn")
    elif proto == 17 and len(b) >= 8:
        kinds.append("udp")
        dport = struct.unpack(">H", b[2:4])[0]
        if dport == 4789:
            kinds.append("vxlan")
            kinds_eth(b[16:], kinds, depth + 1)
    elif proto == 1:
        kinds.append("icmp")
    elif proto == 58:
        kinds.append("icmpv6")
    elif proto == 47 and len(b) >= 4:
        kinds.append("gre")
        fl, pt = struct.unpack(">HH", b[:4])
        hl = 4 + 4 * (bool(fl & 0xC000) + bool(fl & 0x2000) + bool(fl & 0x1000))
        if pt == 0x6558:
            kinds_eth(b[hl:], kinds, depth + 1)
        else:
            kinds_ip(b[hl:], kinds, depth + 1)
    elif proto == 4:
        kinds.append("ipip")
        kinds_ip(b, kinds, depth + 1)
    elif proto == 41:
        kinds.append("6in4")
        kinds_ip(b, kinds, depth + 1)
    else:
        kinds.append("l4_%d" % proto)
    return None


def kinds_ethertype(et, b, kinds, depth):
    while et in (0x8100, 0x88A8, 0x9100) and len(b) >= 4:
        kinds.append("vlan%x" % et)
        et, b = struct.unpack(">H", b[2:4])[0], b[4:]
    if et in (0x8847, 0x8848):
        kinds.append("mpls")
        while len(b) >= 4:
            bos = b[2] & 1
            b = b[4:]
            if bos:
                break
        return kinds_ip(b, kinds, depth)
    if et in (0x0800, 0x86DD):
        return kinds_ip(b, kinds, depth)
    kinds.append("ether%04x" % et)
    return None


def kinds_eth(b, kinds, depth=0):
    if len(b) < 14:
        return None
    return kinds_ethertype(struct.unpack(">H", b[12:14])[0], b[14:], kinds, depth)


def classify(linktype, b):
    kinds = ["link%d" % linktype]
    if linktype == 1:
        fk = kinds_eth(b, kinds)
    elif linktype == 113 and len(b) >= 16:
        fk = kinds_ethertype(struct.unpack(">H", b[14:16])[0], b[16:], kinds, 0)
    elif linktype == 276 and len(b) >= 20:
        fk = kinds_ethertype(struct.unpack(">H", b[0:2])[0], b[20:], kinds, 0)
    elif linktype in (101, 228, 229):
        fk = kinds_ip(b, kinds)
    elif linktype in (0, 108) and len(b) >= 4:
        fk = kinds_ip(b[4:], kinds)
    else:
        fk = None
    return kinds, fk


def write(outdir, name, blob):
    h = hashlib.sha1(blob).hexdigest()[:12]
    path = os.path.join(outdir, "%s-%s" % (name, h))
    with open(path, "wb") as f:
        f.write(blob)


def main():
    outdir, pcaps = sys.argv[1], sys.argv[2:]
    os.makedirs(outdir, exist_ok=True)
    seen = {}
    frags = {}
    derived = []
    for path in pcaps:
        linktype, pkts = read_pcap(path)
        if linktype is None or linktype not in LINK_INDEX:
            continue
        li = LINK_INDEX[linktype]
        for b in pkts:
            if len(b) > MAX_LEN:
                continue
            kinds, fk = classify(linktype, b)
            # innermost, most specific layer first; skip junk ethertypes and protocols
            kinds = [k for k in reversed(kinds) if k not in JUNK_SKIP and
                     not (k.startswith("ether") and k not in KEEP_ETHER) and
                     not (k.startswith("l4_") and k not in KEEP_L4)]
            if linktype == 1 and len(derived) < 2 and "tcp" in kinds and len(b) > 14:
                et = struct.unpack(">H", b[12:14])[0]
                if et in (0x0800, 0x86DD) and all(d[0] != et for d in derived):
                    derived.append((et, b[14:]))
            for k in kinds:
                if seen.get(k, 0) < PER_KIND:
                    seen[k] = seen.get(k, 0) + 1
                    write(outdir, k, bytes([li]) + b)
                    break
            if fk is not None:
                frags.setdefault((li, fk[0]), []).append((b, fk[1], fk[2], fk[3]))
    # Link types the captures lack, derived from one Ethernet IPv4 and one IPv6 packet.
    for et, ip in derived:
        write(outdir, "derived-raw", bytes([1]) + ip)
        write(outdir, "derived-linkip", bytes([2 if et == 0x0800 else 3]) + ip)
        fam = 2 if et == 0x0800 else 30
        write(outdir, "derived-null", bytes([6]) + struct.pack("<I", fam) + ip)
        write(outdir, "derived-loop", bytes([7]) + struct.pack(">I", fam) + ip)
        write(outdir, "derived-sll2", bytes([5]) + struct.pack(">HHIHBB", et, 0, 1, 1, 0, 6) + bytes(8) + ip)
        qinq = ip[:0] + bytes(12) + struct.pack(">HHHHH", 0x88A8, 100, 0x8100, 200, et) + ip
        write(outdir, "derived-qinq", bytes([0]) + qinq)
    # Fragment sequences: the first complete datagrams (offset 0 and the last fragment present,
    # no hole) of each IP version with 2..8 fragments and under 4000 bytes, as captured and reversed.
    done = {"4": 0, "6": 0}
    for (li, fk), seq in frags.items():
        if not 2 <= len(seq) <= 8 or done[fk[0]] >= 3 or sum(len(f[0]) for f in seq) > 4000:
            continue
        ends = [f[1] + f[2] for f in seq if not f[3]]
        if len(ends) != 1:
            continue
        covered = 0
        for _, off, dlen, _ in sorted(seq, key=lambda f: f[1]):
            if off > covered:
                break
            covered = max(covered, off + dlen)
        if covered < ends[0]:
            continue
        done[fk[0]] += 1
        for name, order in (("", seq), ("-rev", list(reversed(seq)))):
            blob = bytes([0x80 | li])
            for f in order:
                blob += bytes([li, 1]) + struct.pack(">H", len(f[0])) + f[0]
            write(outdir, "fragseq%s%s" % (fk[0], name), blob)


if __name__ == "__main__":
    main()
