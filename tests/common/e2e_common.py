"""Helpers shared by the Python end-to-end tests: progress and check reporting, a classic pcap
writer, an IPv4/UDP frame builder and the EVE timestamp parser.

Import it from a test script with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
    import e2e_common as ec
"""
import calendar
import struct
import sys
import time

# Every failed check, in order; a test exits non-zero when this is not empty.
failures = []
_T_START = time.monotonic()


def step(what):
    """Prints a progress line with the seconds since the test started (for slow CI runs)."""
    print(f"[{time.monotonic() - _T_START:6.2f}s] {what}", file=sys.stderr)


def check(cond, what):
    """Records `what` as a failure when `cond` is false; returns `cond`."""
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def finish():
    """Prints the failure count and returns the exit status (0 when every check held)."""
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


def ip_checksum(header):
    """RFC 791 header checksum of a 20-byte IPv4 header whose checksum field is zero."""
    s = sum(struct.unpack("!10H", header))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def udp_frame(src_ip, dst_ip, sport, dport, payload, ip_id=0, ttl=64):
    """An Ethernet/IPv4/UDP frame (UDP checksum 0: not computed, as RFC 768 allows)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ip_id & 0xFFFF, 0, ttl, 17, 0,
                     bytes(src_ip), bytes(dst_ip))
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    return bytes.fromhex("020000000002" "020000000001" "0800") + ip + udp


def write_pcap(path, records):
    """Writes a classic microsecond pcap (Ethernet) of `records`: (microseconds since the
    epoch, frame bytes) pairs, in the order given."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for us, data in records:
            f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(data), len(data)) + data)


def eve_ts_ns(s):
    """Nanoseconds since the epoch of an EVE timestamp such as 2023-11-14T22:13:20.005000+0100."""
    base, frac, off = s[:19], s[20:26], s[26:]
    sec = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    sign = 1 if off[0] == "+" else -1
    sec -= sign * (int(off[1:3]) * 3600 + int(off[3:5]) * 60)
    return sec * 10**9 + int(frac) * 1000
