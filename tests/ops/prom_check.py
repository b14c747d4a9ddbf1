"""Strict reader of the Prometheus text exposition format 0.0.4 (what tripline serves), used by the
ops e2e tests. It checks the structure the format requires (HELP/TYPE before a family's samples,
one TYPE per family, valid names, label syntax and escapes, float values, counters ending in
_total) and, where Debian's python3-prometheus-client is installed, also parses the text with its
parser and compares the two readings."""
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _unescape(v):
    return re.sub(r'\\([\\"n])', lambda m: {"\\": "\\", '"': '"', "n": "\n"}[m.group(1)], v)


def parse(text):
    """Returns {(name, frozenset(labels.items())): value} and {family: type}; raises ValueError."""
    if not text.endswith("\n"):
        raise ValueError("exposition must end with a line feed")
    samples, types, helps = {}, {}, {}
    seen_families = []
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = parts[2]
                if not NAME.match(fam):
                    raise ValueError(f"line {n}: bad metric name {fam!r}")
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ValueError(f"line {n}: bad TYPE line {line!r}")
                    if fam in types:
                        raise ValueError(f"line {n}: second TYPE for {fam}")
                    if any(k[0] == fam for k in samples):
                        raise ValueError(f"line {n}: TYPE after samples of {fam}")
                    types[fam] = parts[3]
                    if parts[3] == "counter" and not fam.endswith("_total"):
                        raise ValueError(f"line {n}: counter {fam} does not end in _total")
                else:
                    if fam in helps:
                        raise ValueError(f"line {n}: second HELP for {fam}")
                    helps[fam] = parts[3] if len(parts) == 4 else ""
                if fam not in seen_families:
                    seen_families.append(fam)
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( -?\d+)?$", line)
        if not m:
            raise ValueError(f"line {n}: bad sample line {line!r}")
        name, lab, val = m.group(1), m.group(2), m.group(3)
        labels = {}
        if lab:
            body = lab[1:-1]
            pos = 0
            while pos < len(body):
                lm = LABEL.match(body, pos)
                if not lm:
                    raise ValueError(f"line {n}: bad labels {lab!r}")
                if lm.group(1) in labels:
                    raise ValueError(f"line {n}: label {lm.group(1)} twice")
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
                if pos < len(body):
                    if body[pos] != ",":
                        raise ValueError(f"line {n}: bad labels {lab!r}")
                    pos += 1
        try:
            v = float(val)
        except ValueError:
            raise ValueError(f"line {n}: bad value {val!r}")
        if name not in types:
            raise ValueError(f"line {n}: sample {name} without a TYPE line before it")
        if name not in helps:
            raise ValueError(f"line {n}: sample {name} without a HELP line before it")
        if seen_families[-1] != name:
            raise ValueError(f"line {n}: samples of {name} are not grouped with its family")
        if types[name] == "counter" and (v < 0 or math.isnan(v)):
            raise ValueError(f"line {n}: counter {name} is {v}")
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise ValueError(f"line {n}: duplicate sample {line!r}")
        samples[key] = v
    _cross_check(text, samples)
    return samples, types


def _cross_check(text, samples):
    try:
        sys.path.append("/usr/lib/python3/dist-packages")  # Debian's package under another python
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return
    theirs = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            # the client strips _total from counter family names but keeps it in sample names
            theirs[(s.name, frozenset(s.labels.items()))] = s.value
    if theirs != samples:
        diff = set(theirs.items()) ^ set(samples.items())
        raise ValueError(f"prometheus_client reads it differently: {sorted(diff)[:5]}")


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


if __name__ == "__main__":
    s, t = parse(sys.stdin.read())
    print(f"{len(s)} samples in {len(t)} families")
