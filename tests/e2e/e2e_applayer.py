#!/usr/bin/env python3
"""EVE http, dns and tls records of the tripline program on real captures, checked against
tshark's fields for the same captures (computed here, with the tshark found on the machine):

  pcaps/ndpi/WebattackSQLinj.pcap  HTTP: hostname, url, method, protocol, user agent, referer,
                                   status, content type, length, tuple, tx_id of every request
  pcaps/ndpi/netflix.pcap          DNS: every query and answer (id, rrname, rrtype, rcode, the
                                   A / AAAA / CNAME answers and their TTLs, grouped)
  pcaps/ndpi/tls_long_cert.pcap    TLS: sni, version, ja3 / ja3s hashes, certificate serial,
                                   validity, SHA-1 fingerprint (of tshark's certificate bytes),
                                   subject and issuer (decoded by openssl when present)

Also: every line of every output parses as JSON; an output with `types: [http, dns, tls]` holds
exactly the app-layer records of the full one and an alert-only output none of them; alerts
raised from a transaction's buffers carry that transaction's http/dns/tls object.

usage: e2e_applayer.py TRIPLINE_BINARY
Exit 77 (skip) when the shared captures or tshark are not there.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

RULES = """\
alert http any any -> any any (msg:"e2e http GET"; http.method; content:"GET"; sid:9100001; rev:1;)
alert dns any any -> any any (msg:"e2e dns query netflix"; dns.query; content:"netflix"; sid:9100002; rev:1;)
alert tls any any -> any any (msg:"e2e tls sni"; tls.sni; content:"repubblica"; sid:9100003; rev:1;)
alert tls any any -> any any (msg:"e2e tls subject"; tls.cert_subject; content:"repstatic"; sid:9100004; rev:1;)
"""

CONFIG = """\
%YAML 1.1
---
outputs:
  all:
    type: eve-file
    filename: eve.json
  applayer:
    type: eve-file
    filename: applayer.json
    types: [http, dns, tls]
  alerts:
    type: eve-file
    filename: alerts.json
    types: [alert]
"""

RRTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
           65: "HTTPS"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
TLS_VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}


class Failures:
    def __init__(self):
        self.items = []

    def check(self, cond, msg):
        if not cond:
            self.items.append(msg)
        return cond

    def eq(self, got, want, what):
        return self.check(got == want, f"{what}: got {got!r}, tshark says {want!r}")


def shared():
    data = os.environ.get("TRIPLINE_SHARED_DATA") or os.path.join(HERE, "..", "..", "..", "shared", "data")
    p = os.path.join(data, "pcaps", "ndpi")
    if not os.path.isdir(p):
        print(f"SKIP: shared captures not found at {p}")
        sys.exit(77)
    return p


def tshark(pcap, display_filter, fields, extra=()):
    cmd = ["tshark", "-n", "-r", pcap, "-Y", display_filter, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=\x1f"] + list(extra)
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"tshark failed on {pcap}")
    rows = []
    for line in r.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(fields) - len(cols))
        rows.append({f: [v for v in c.split("\x1f")] if c else [] for f, c in zip(fields, cols)})
    return rows


def first(row, f, default=""):
    v = row.get(f) or []
    return v[0] if v else default


def read_lines(path, fails):
    recs = []
    if not os.path.exists(path):
        fails.check(False, f"{path}: missing")
        return recs
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                obj = json.loads(raw)
            except ValueError as e:
                fails.check(False, f"{path}:{n}: not JSON ({e}): {raw[:200]!r}")
                continue
            fails.check(isinstance(obj, dict) and "event_type" in obj, f"{path}:{n}: not an EVE record")
            recs.append(obj)
    return recs


def run_tripline(binary, pcap, tmp, fails):
    out = os.path.join(tmp, os.path.basename(pcap))
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    rules = os.path.join(tmp, "e2e.rules")
    conf = os.path.join(tmp, "tripline.yaml")
    with open(rules, "w") as f:
        f.write(RULES)
    with open(conf, "w") as f:
        f.write(CONFIG)
    r = subprocess.run([binary, "-c", conf, "-r", pcap, "-l", out, "-S", rules, "--workers", "2",
                        "--set", "memory.flows=65536", "--set", "anomaly.enabled=no"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError(f"tripline on {pcap}: exit {r.returncode}\n{r.stderr[-2000:]}")
    full = read_lines(os.path.join(out, "eve.json"), fails)
    appl = read_lines(os.path.join(out, "applayer.json"), fails)
    alerts = read_lines(os.path.join(out, "alerts.json"), fails)
    key = lambda e: json.dumps(e, sort_keys=True)
    want_appl = sorted(key(e) for e in full if e["event_type"] in ("http", "dns", "tls"))
    fails.eq(sorted(key(e) for e in appl), want_appl, f"{pcap}: types [http, dns, tls] output")
    fails.eq(sorted(key(e) for e in alerts), sorted(key(e) for e in full if e["event_type"] == "alert"),
             f"{pcap}: alert-only output")
    return full


def common(rec, what, fails, proto, app_proto):
    fails.check(isinstance(rec.get("flow_id"), int) and rec["flow_id"] > 0, f"{what}: flow_id")
    fails.check(str(rec.get("community_id", "")).startswith("1:"), f"{what}: community_id")
    fails.eq(rec.get("proto"), proto, f"{what}: proto")
    fails.eq(rec.get("app_proto"), app_proto, f"{what}: app_proto")
    fails.check("timestamp" in rec, f"{what}: timestamp")


# ---- HTTP ----

def check_http(binary, pcap, tmp, fails):
    f = ["tcp.stream", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "http.request.method",
         "http.request.uri", "http.request.version", "http.host", "http.user_agent", "http.referer",
         "http.response.code", "http.content_type", "http.content_length_header", "http.content_encoding"]
    rows = tshark(pcap, "http.request || http.response", f)
    streams = {}
    for r in rows:
        s = streams.setdefault(first(r, "tcp.stream"), {"req": [], "resp": []})
        if r["http.request.method"]:
            s["req"].append(r)
        else:
            s["resp"].append(r)
    want = {}
    for s in streams.values():
        for i, q in enumerate(s["req"]):
            resp = s["resp"][i] if i < len(s["resp"]) else None
            want[(int(first(q, "tcp.srcport")), i)] = (q, resp)
    eve = run_tripline(binary, pcap, tmp, fails)
    recs = [e for e in eve if e["event_type"] == "http"]
    fails.check(len(want) >= 5, f"{pcap}: tshark sees only {len(want)} requests")
    fails.eq(len(recs), len(want), f"{pcap}: http records")
    for e in recs:
        k = (e.get("src_port"), e.get("tx_id"))
        what = f"{pcap} http src_port {k[0]} tx {k[1]}"
        if not fails.check(k in want, f"{what}: no such request in tshark"):
            continue
        q, resp = want.pop(k)
        common(e, what, fails, "TCP", "http")
        fails.eq(e.get("src_ip"), first(q, "ip.src"), f"{what}: src_ip")
        fails.eq(e.get("dest_ip"), first(q, "ip.dst"), f"{what}: dest_ip")
        fails.eq(e.get("dest_port"), int(first(q, "tcp.dstport")), f"{what}: dest_port")
        h = e.get("http", {})
        host = first(q, "http.host").lower()
        if host.rsplit(":", 1)[-1].isdigit() and not host.endswith("]"):
            host = host.rsplit(":", 1)[0]
        fails.eq(h.get("hostname"), host, f"{what}: hostname")
        fails.eq(h.get("url"), first(q, "http.request.uri"), f"{what}: url")
        fails.eq(h.get("http_method"), first(q, "http.request.method"), f"{what}: http_method")
        fails.eq(h.get("protocol"), first(q, "http.request.version"), f"{what}: protocol")
        fails.eq(h.get("http_user_agent"), first(q, "http.user_agent", None), f"{what}: http_user_agent")
        fails.eq(h.get("http_refer"), first(q, "http.referer", None), f"{what}: http_refer")
        if resp:
            fails.eq(h.get("status"), int(first(resp, "http.response.code")), f"{what}: status")
            fails.eq(h.get("http_content_type"), first(resp, "http.content_type", None),
                     f"{what}: http_content_type")
            if first(resp, "http.content_length_header") and not first(resp, "http.content_encoding"):
                fails.eq(h.get("length"), int(first(resp, "http.content_length_header")), f"{what}: length")
    fails.eq(list(want), [], f"{pcap}: requests tshark sees without an http record")
    check_alerts(eve, 9100001, "http", pcap, fails, lambda a: a["http"].get("http_method") == "GET")


# ---- DNS ----

def check_dns(binary, pcap, tmp, fails):
    f = ["udp.srcport", "udp.dstport", "ip.src", "dns.id", "dns.flags.response", "dns.qry.name",
         "dns.qry.type", "dns.flags.rcode", "dns.resp.type", "dns.resp.name", "dns.resp.ttl", "dns.a",
         "dns.aaaa", "dns.cname"]
    rows = tshark(pcap, "dns && udp", f)
    want = {}
    for r in rows:
        resp = first(r, "dns.flags.response") in ("1", "True")
        want.setdefault((int(first(r, "udp.srcport")), int(first(r, "dns.id"), 16), resp), []).append(r)
    eve = run_tripline(binary, pcap, tmp, fails)
    recs = [e for e in eve if e["event_type"] == "dns"]
    fails.check(len(rows) >= 10, f"{pcap}: tshark sees only {len(rows)} DNS messages")
    fails.eq(len(recs), len(rows), f"{pcap}: dns records")
    for e in recs:
        d = e.get("dns", {})
        resp = d.get("type") == "answer"
        k = (e.get("src_port"), d.get("id"), resp)
        what = f"{pcap} dns {d.get('type')} src_port {k[0]} id {k[1]}"
        if not fails.check(want.get(k), f"{what}: no such message in tshark"):
            continue
        r = want[k].pop(0)
        common(e, what, fails, "UDP", "dns")
        fails.eq(e.get("src_ip"), first(r, "ip.src"), f"{what}: src_ip")
        fails.eq(d.get("rrname"), first(r, "dns.qry.name"), f"{what}: rrname")
        fails.eq(d.get("rrtype"), RRTYPES.get(int(first(r, "dns.qry.type", "0"))), f"{what}: rrtype")
        if not resp:
            fails.check(isinstance(d.get("tx_id"), int), f"{what}: tx_id")
            continue
        fails.eq(d.get("version"), 2, f"{what}: version")
        fails.eq(d.get("rcode"), RCODES.get(int(first(r, "dns.flags.rcode", "0"))), f"{what}: rcode")
        types = [RRTYPES.get(int(t), f"TYPE{t}") for t in r["dns.resp.type"]]
        ans = d.get("answers", [])
        fails.eq([a.get("rrtype") for a in ans], types, f"{what}: answer types")
        fails.eq([a.get("rrname") for a in ans], r["dns.resp.name"], f"{what}: answer names")
        fails.eq([a.get("ttl") for a in ans], [int(t) for t in r["dns.resp.ttl"]], f"{what}: answer ttls")
        fails.eq([a.get("rdata") for a in ans if a.get("rrtype") == "A"], r["dns.a"], f"{what}: A answers")
        fails.eq([a.get("rdata") for a in ans if a.get("rrtype") == "CNAME"], r["dns.cname"],
                 f"{what}: CNAME answers")
        # Suricata writes AAAA data uncompressed (2001:0db8:0000:...): compare as addresses
        import ipaddress
        fails.eq([ipaddress.ip_address(a.get("rdata")) for a in ans if a.get("rrtype") == "AAAA"],
                 [ipaddress.ip_address(x) for x in r["dns.aaaa"]], f"{what}: AAAA answers")
        if ans:
            g = d.get("grouped", {})
            fails.eq(g.get("A", []), r["dns.a"], f"{what}: grouped A")
            fails.eq(g.get("CNAME", []), r["dns.cname"], f"{what}: grouped CNAME")
    left = [k for k, v in want.items() if v]
    fails.eq(left, [], f"{pcap}: DNS messages tshark sees without a dns record")
    check_alerts(eve, 9100002, "dns", pcap, fails,
                 lambda a: "netflix" in json.dumps(a["dns"]) and ("query" in a["dns"] or "answer" in a["dns"]))


# ---- TLS ----

def openssl_names(der):
    """(subject, issuer) as Suricata writes them ("C=US, O=..., CN=..."), or None without openssl."""
    if not shutil.which("openssl"):
        return None
    out = []
    for what in ("-subject", "-issuer"):
        r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", what, "-nameopt",
                            "sep_comma_plus_space,utf8,dump_der,sname"],
                           input=der, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
        if r.returncode != 0:
            return None
        v = r.stdout.decode("utf-8", "replace").strip().split("=", 1)[1]
        out.append(v.strip())
    return tuple(out)


def asn1_time(s):
    """tshark's "2019-03-07 00:00:00 (UTC)" -> Suricata's "2019-03-07T00:00:00"."""
    return s.replace(" (UTC)", "").replace(" ", "T")


def check_tls(binary, pcap, tmp, fails):
    hello = tshark(pcap, "tls.handshake.type == 1", ["tcp.srcport", "tls.handshake.extensions_server_name",
                                                     "tls.handshake.ja3"])
    shello = tshark(pcap, "tls.handshake.type == 2", ["tcp.dstport", "tls.handshake.version",
                                                      "tls.handshake.ja3s",
                                                      "tls.handshake.extensions.supported_version"])
    certs = tshark(pcap, "tls.handshake.type == 11", ["tcp.dstport", "tls.handshake.certificate",
                                                      "x509af.serialNumber", "x509af.utcTime"])
    fails.check(len(hello) >= 1 and len(certs) >= 1, f"{pcap}: tshark sees no TLS handshake with certificate")
    eve = run_tripline(binary, pcap, tmp, fails)
    recs = {e.get("src_port"): e for e in eve if e["event_type"] == "tls"}
    fails.eq(len(recs), len(hello), f"{pcap}: tls records (one per ClientHello)")
    for h in hello:
        port = int(first(h, "tcp.srcport"))
        what = f"{pcap} tls src_port {port}"
        e = recs.get(port)
        if not fails.check(e is not None, f"{what}: no tls record"):
            continue
        common(e, what, fails, "TCP", "tls")
        t = e.get("tls", {})
        fails.eq(t.get("sni"), first(h, "tls.handshake.extensions_server_name", None), f"{what}: sni")
        fails.eq(t.get("ja3", {}).get("hash"), first(h, "tls.handshake.ja3"), f"{what}: ja3.hash")
        fails.check(len(t.get("ja3", {}).get("string", "")) > 10, f"{what}: ja3.string")
        sh = [s for s in shello if int(first(s, "tcp.dstport")) == port]
        if sh:
            v = first(sh[0], "tls.handshake.extensions.supported_version") or first(sh[0], "tls.handshake.version")
            fails.eq(t.get("version"), TLS_VERSIONS.get(int(v, 16)), f"{what}: version")
            fails.eq(t.get("ja3s", {}).get("hash"), first(sh[0], "tls.handshake.ja3s"), f"{what}: ja3s.hash")
        c = [x for x in certs if int(first(x, "tcp.dstport")) == port]
        if not c:
            continue
        der = bytes.fromhex(first(c[0], "tls.handshake.certificate").replace(":", ""))
        fp = hashlib.sha1(der).hexdigest()
        fails.eq(t.get("fingerprint"), ":".join(fp[i:i + 2] for i in range(0, len(fp), 2)), f"{what}: fingerprint")
        serial = first(c[0], "x509af.serialNumber").replace(":", "").upper()
        fails.eq((t.get("serial") or "").replace(":", "").lstrip("0"), serial.lstrip("0"), f"{what}: serial")
        times = c[0]["x509af.utcTime"]
        if len(times) >= 2:
            fails.eq(t.get("notbefore"), asn1_time(times[0]), f"{what}: notbefore")
            fails.eq(t.get("notafter"), asn1_time(times[1]), f"{what}: notafter")
        names = openssl_names(der)
        if names:
            fails.eq(t.get("subject"), names[0], f"{what}: subject")
            fails.eq(t.get("issuerdn"), names[1], f"{what}: issuerdn")
    check_alerts(eve, 9100003, "tls", pcap, fails, lambda a: a["tls"].get("sni") == "www.repubblica.it")
    check_alerts(eve, 9100004, "tls", pcap, fails, lambda a: "repstatic" in a["tls"].get("subject", ""))


def check_alerts(eve, sid, proto, pcap, fails, pred):
    alerts = [e for e in eve if e["event_type"] == "alert" and e["alert"]["signature_id"] == sid]
    fails.check(alerts, f"{pcap}: no alert {sid}")
    for a in alerts:
        what = f"{pcap} alert {sid} flow {a.get('flow_id')}"
        if fails.check(isinstance(a.get(proto), dict), f"{what}: no {proto} object"):
            fails.check(pred(a), f"{what}: {proto} object {a[proto]!r}")
        fails.check(isinstance(a.get("tx_id"), int), f"{what}: tx_id")
        fails.eq(a.get("app_proto"), proto, f"{what}: app_proto")


def check_no_rules(binary, pcaps, tmp, fails):
    """Without -S the app layer still runs: the same http/dns/tls records as with rules."""
    for pcap in pcaps:
        with_rules = [e for e in run_tripline(binary, pcap, tmp, fails)
                      if e["event_type"] in ("http", "dns", "tls")]
        out = os.path.join(tmp, "norules-" + os.path.basename(pcap))
        os.makedirs(out)
        r = subprocess.run([binary, "-r", pcap, "-l", out, "--workers", "2", "--set", "memory.flows=65536",
                            "--set", "anomaly.enabled=no"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"tripline on {pcap} without rules: exit {r.returncode}\n{r.stderr[-2000:]}")
        bare = [e for e in read_lines(os.path.join(out, "eve.json"), fails)
                if e["event_type"] in ("http", "dns", "tls")]
        strip = lambda e: json.dumps({k: v for k, v in e.items() if k != "timestamp"}, sort_keys=True)
        fails.check(len(bare) > 0, f"{pcap}: no http/dns/tls record without rules")
        fails.eq(sorted(map(strip, bare)), sorted(map(strip, with_rules)), f"{pcap}: records without rules")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    base = shared()
    if not shutil.which("tshark"):
        print("SKIP: tshark is not installed (tools/setup.sh installs it)")
        return 77
    ver = subprocess.run(["tshark", "--version"], stdout=subprocess.PIPE, text=True).stdout.splitlines()[0]
    print(f"reference: {ver}")
    fails = Failures()
    with tempfile.TemporaryDirectory() as tmp:
        check_http(binary, os.path.join(base, "WebattackSQLinj.pcap"), tmp, fails)
        check_dns(binary, os.path.join(base, "netflix.pcap"), tmp, fails)
        check_tls(binary, os.path.join(base, "tls_long_cert.pcap"), tmp, fails)
        check_no_rules(binary, [os.path.join(base, f) for f in
                                ("WebattackSQLinj.pcap", "netflix.pcap", "tls_long_cert.pcap")], tmp, fails)
    for m in fails.items:
        print("FAIL " + m)
    if fails.items:
        print(f"{len(fails.items)} failure(s)")
        return 1
    print("OK: http, dns and tls records match tshark")
    return 0


if __name__ == "__main__":
    sys.exit(main())
