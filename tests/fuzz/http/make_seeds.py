#!/usr/bin/env python3
"""Writes the seed corpora of the applayer harnesses (http, dns, tls) from the shared captures
(TCP/UDP payloads of a few flows, via tshark) plus hand-written messages. Each seed is in the
harnesses' chunk format: a header byte (bit 7 direction, bits 0-6 length) then the bytes.
Run from the repository root: python3 tests/fuzz/http/make_seeds.py"""
import os, subprocess, sys, zlib

DATA = os.environ.get('TRIPLINE_SHARED_DATA', os.path.join('..', 'shared', 'data'))
OUT = os.path.join('tests', 'fuzz', 'corpus')


def chunks(parts, step=127):
    """parts: list of (dir, bytes) -> harness input."""
    out = bytearray()
    for d, b in parts:
        for i in range(0, len(b), step):
            c = b[i:i + step]
            out.append((0x80 if d else 0) | len(c))
            out += c
    return bytes(out)


def flows_from_pcap(path, proto, port, limit=6, max_bytes=6000):
    """[(dir, payload)] per flow for flows to/from port."""
    field = 'tcp.payload' if proto == 'tcp' else 'udp.payload'
    flt = '%s.port==%d && %s' % (proto, port, field.split('.')[0] + '.len>0' if proto == 'tcp' else 'udp')
    cmd = ['tshark', '-r', path, '-Y', flt, '-T', 'fields', '-e', '%s.stream' % proto,
           '-e', '%s.dstport' % proto, '-e', field]
    try:
        lines = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.splitlines()
    except Exception as e:
        print('skip', path, e, file=sys.stderr)
        return []
    flows = {}
    for ln in lines:
        f = ln.split('\t')
        if len(f) < 3 or not f[2]:
            continue
        d = 0 if f[1] == str(port) else 1
        flows.setdefault(f[0], []).append((d, bytes.fromhex(f[2].replace(':', ''))))
    res = []
    for k in list(flows)[:limit]:
        parts, total = [], 0
        for d, b in flows[k]:
            if total > max_bytes:
                break
            parts.append((d, b))
            total += len(b)
        res.append(parts)
    return res


def write(name, idx, blob):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-%03d' % idx), 'wb') as f:
        f.write(blob)


def main():
    n = 0
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    body = gz.compress(b'<html>hello hello hello</html>') + gz.flush()
    http = [
        [(0, b'GET /a/../b%41?x=1 HTTP/1.1\r\nHost: Example.com:80\r\nUser-Agent: x\r\nCookie: a=b\r\n'
             b'X: 1\r\nX: 2\r\nF: a\r\n b\r\n\r\n'),
         (1, b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: s=1\r\n\r\nhello')],
        [(0, b'POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
             b'GET /2 HTTP/1.1\r\n\r\nHEAD /3 HTTP/1.1\r\n\r\n'),
         (1, b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n'
             b'Content-Length: %d\r\n\r\n' % len(body) + body +
             b'HTTP/1.1 404 NF\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n'
             b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n')],
        [(0, b'CONNECT a:443 HTTP/1.1\r\n\r\n'), (1, b'HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01')],
        [(0, b'GET / HTTP/1.0\r\n\r\n'), (1, b'HTTP/1.0 200 OK\r\n\r\nclose-delimited body')],
    ]
    for parts in http:
        write('http', n, chunks(parts, 37)); n += 1
    for p in ['WebattackSQLinj.pcap', 'sql_injection.pcap', 'xss.pcap', 'http_ipv6.pcap',
              'WebattackRCE.pcap']:
        for parts in flows_from_pcap(os.path.join(DATA, 'pcaps', 'ndpi', p), 'tcp', 80, limit=3):
            write('http', n, chunks(parts)); n += 1

    n = 0
    q = bytes.fromhex('123401000001000000000000') + b'\x03www\x07example\x03com\x00\x00\x01\x00\x01'
    write('dns', n, b'\x00' + chunks([(0, q)])); n += 1
    write('dns', n, b'\x01' + chunks([(0, len(q).to_bytes(2, 'big') + q)], 5)); n += 1
    for p in ['bad-dns-traffic.pcap', 'dns-tunnel-iodine.pcap', 'googledns_android10.pcap',
              'dns_exfiltration.pcap']:
        for parts in flows_from_pcap(os.path.join(DATA, 'pcaps', 'ndpi', p), 'udp', 53, limit=4,
                                     max_bytes=1500):
            write('dns', n, b'\x00' + chunks(parts)); n += 1
    tcpdns = os.path.join(DATA, 'suricata-verify-app-A', 'issues', 'issue-4759.1', 'tcpdns.pcap')
    for parts in flows_from_pcap(tcpdns, 'tcp', 53, limit=2):
        write('dns', n, b'\x01' + chunks(parts)); n += 1

    n = 0
    for p, lim in [(os.path.join(DATA, 'pcaps', 'ndpi', 'tls_long_cert.pcap'), 3),
                   (os.path.join(DATA, 'suricata-verify-app-A', 'tls', 'tls-cert-issuer', 'tls.pcap'), 2),
                   (os.path.join(DATA, 'suricata-verify-app-A', 'tls', 'tls-subject-zero', 'input.pcap'), 2),
                   (os.path.join(DATA, 'suricata-verify-app-A', 'tls', 'tls-client-hello-frag-01',
                                 'dump_mtu300.pcap'), 2)]:
        for parts in flows_from_pcap(p, 'tcp', 443, limit=lim, max_bytes=12000):
            write('tls', n, chunks(parts)); n += 1
    print('seeds written under', OUT)


if __name__ == '__main__':
    main()
