#!/usr/bin/env python3
"""Decoder notes on packets that stay valid reach EVE as `anomaly` events (type decode).

Writes a small capture with: a datagram in three IPv4 fragments whose second one overlaps the
first with different bytes (decoder.ipv4.frag_overlap on a held fragment), a TCP SYN+FIN (tcp.bad_flags), a
UDP packet cut by the snaplen (pkt.truncated_snaplen) and a plain valid packet (no event), then
replays it through tripline with 1 and 2 workers and checks the anomaly records: one per noted
packet, with the decoder's name under Suricata's "decoder." prefix and the packet's tuple.

usage: e2e_decode_notes.py TRIPLINE
"""
import json
import os
import struct
import subprocess
import sys
import tempfile


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=1, frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                    bytes(src), bytes(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def eth(ip):
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip


def tcp(sp, dp, flags, seq=1000):
    return struct.pack("!HHIIBBHHH", sp, dp, seq, 0, 0x50, flags, 8192, 0, 0)


def udp(sp, dp, data):
    return struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data


def write_pcap(path, recs):
    """recs: (ts_us, frame bytes, caplen or None)"""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, frame, cap in recs:
            cap = len(frame) if cap is None else cap
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, cap, len(frame)))
            f.write(frame[:cap])


def build(path):
    A, B = [10, 7, 0, 1], [10, 7, 0, 2]
    C, D = [10, 7, 1, 1], [10, 7, 1, 2]
    E, F = [10, 7, 2, 1], [10, 7, 2, 2]
    G, H = [10, 7, 3, 1], [10, 7, 3, 2]
    t = 1700000000 * 1000000
    body = udp(5000, 6000, b"A" * 40)       # 48 bytes of UDP: fragments of 24 + 24
    evil = b"B" * 16                        # overlaps offset 8..24 with other bytes
    recs = [
        (t, eth(ipv4(A, B, 17, body[:24], ident=77, frag=0x2000)), None),        # MF, off 0
        (t + 10, eth(ipv4(A, B, 17, evil, ident=77, frag=0x2000 | 1)), None),   # MF, off 8: overlap
        (t + 20, eth(ipv4(A, B, 17, body[24:], ident=77, frag=3)), None),       # last, off 24
        (t + 30, eth(ipv4(C, D, 6, tcp(40000, 80, 0x03))), None),               # SYN+FIN
        (t + 40, eth(ipv4(E, F, 17, udp(7000, 53, b"q" * 200))), 60),           # cut by snaplen
        (t + 50, eth(ipv4(G, H, 17, udp(7001, 53, b"ok"))), None),              # plain
    ]
    write_pcap(path, recs)


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        pcap = os.path.join(tmp, "notes.pcap")
        build(pcap)
        for workers in (1, 2):
            out = os.path.join(tmp, f"w{workers}")
            r = subprocess.run([binary, "-r", pcap, "-l", out, "--workers", str(workers),
                                "--set", "memory.flows=65536", "--set", "anomaly.enabled=no"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
            if r.returncode != 0:
                raise AssertionError(f"tripline exit {r.returncode}: {r.stderr}")
            ev = [json.loads(line) for line in open(os.path.join(out, "eve.json"), "rb")]
            an = [e for e in ev if e.get("event_type") == "anomaly"]
            got = sorted((e["anomaly"]["type"], e["anomaly"]["event"], e.get("src_ip"), e.get("dest_ip"))
                         for e in an)
            want = sorted([
                ("decode", "decoder.ipv4.frag_overlap", "10.7.0.1", "10.7.0.2"),
                ("decode", "decoder.tcp.bad_flags", "10.7.1.1", "10.7.1.2"),
                ("decode", "decoder.pkt.truncated_snaplen", "10.7.2.1", "10.7.2.2"),
            ])
            print(f"{workers} workers: {got}")
            if got != want:
                raise AssertionError(f"{workers} workers: anomaly records {got}, want {want}")
            # the noted packets are still valid: their flows exist (the overlapped datagram is
            # reassembled with the first data), none is counted invalid
            flows = {(e["src_ip"], e["dest_ip"]) for e in ev if e.get("event_type") == "flow"}
            for pair in (("10.7.0.1", "10.7.0.2"), ("10.7.1.1", "10.7.1.2"), ("10.7.2.1", "10.7.2.2"),
                         ("10.7.3.1", "10.7.3.2")):
                if pair not in flows:
                    raise AssertionError(f"{workers} workers: no flow {pair}: {sorted(flows)}")
            st = [e for e in ev if e.get("event_type") == "stats"][-1]["stats"]
            if st["decoder"]["invalid"] != 0:
                raise AssertionError(f"invalid packets counted: {st['decoder']['invalid']}")


if __name__ == "__main__":
    main()
