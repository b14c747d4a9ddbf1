#!/usr/bin/env python3
"""Unit tests of run_sv.py's suricata-verify semantics: version requirements (only the
components a test names count), the `stats` check (last stats event), has-key filters and the
translation of a test's own suricata.yaml."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_sv  # noqa: E402


class Versions(unittest.TestCase):
    def test_components_named_only(self):
        v = (8, 0, 5)
        self.assertTrue(run_sv.version_holds("min-version", "7", v))
        self.assertTrue(run_sv.version_holds("min-version", "8", v))
        self.assertTrue(run_sv.version_holds("min-version", "8.0.5", v))
        self.assertFalse(run_sv.version_holds("min-version", "8.0.6", v))
        self.assertFalse(run_sv.version_holds("min-version", "9", v))
        # lt-version 8 means "before 8.x": 8.0.5 is not
        self.assertFalse(run_sv.version_holds("lt-version", "8", v))
        self.assertFalse(run_sv.version_holds("lt-version", "8.0.5", v))
        self.assertTrue(run_sv.version_holds("lt-version", "8.0.6", v))
        self.assertTrue(run_sv.version_holds("gt-version", "6.0.11", v))
        self.assertFalse(run_sv.version_holds("gt-version", "8.0.5", v))
        # gt-version 8 on 8.0.5: the major is not greater
        self.assertFalse(run_sv.version_holds("gt-version", "8", v))
        self.assertTrue(run_sv.version_holds("version", "8.0", v))
        self.assertFalse(run_sv.version_holds("version", "7", v))

    def test_requires(self):
        v = (8, 0, 5)
        self.assertEqual(run_sv.requires_ok({"gt-version": "6.0.11"}, v), (True, ""))
        ok, why = run_sv.requires_ok({"min-version": "8.0.6"}, v)
        self.assertFalse(ok)
        self.assertIn("8.0.6", why)
        ok, why = run_sv.requires_ok({"features": ["HAVE_LUA"]}, v)
        self.assertFalse(ok)
        self.assertIn("features", why)
        ok, why = run_sv.requires_ok({"gt-version": "8", "lt-version": "7"}, v)
        self.assertFalse(ok)
        self.assertIn("impossible", why)
        self.assertTrue(run_sv.requires_ok({"pcap": False, "min-version": 7}, v)[0])
        self.assertTrue(run_sv.requires_ok(None, v)[0])

    def test_default_version(self):
        self.assertEqual(run_sv.parse_version(run_sv.SURICATA_VERSION)[:1], (8,))


class Checks(unittest.TestCase):
    def test_stats_last_event(self):
        recs = [{"event_type": "stats", "stats": {"app_layer": {"flow": {"tls": 1}}}},
                {"event_type": "alert"},
                {"event_type": "stats", "stats": {"app_layer": {"flow": {"tls": 5},
                                                                "tx": {"tls": 0}}}}]
        self.assertEqual(run_sv.stats_problems(recs, {"app_layer.flow.tls": 5,
                                                      "app_layer.tx.tls": 0}), [])
        self.assertEqual(len(run_sv.stats_problems(recs, {"app_layer.flow.tls": 1})), 1)
        self.assertEqual(len(run_sv.stats_problems(recs, {"app_layer.flow.http": 0})), 1)
        self.assertEqual(run_sv.stats_problems([{"event_type": "alert"}], {"a": 1}),
                         ["no stats event"])

    def test_has_key(self):
        rec = {"event_type": "alert", "pcap_cnt": 3, "alert": {"signature_id": 2}}
        self.assertTrue(run_sv.record_matches(rec, {"has-key": "pcap_cnt"}))
        self.assertFalse(run_sv.record_matches(rec, {"not-has-key": "pcap_cnt"}))
        self.assertTrue(run_sv.record_matches(rec, {"not-has-key": "alert.rev"}))
        self.assertTrue(run_sv.record_matches(rec, {"pcap_cnt": 3, "alert.signature_id": 2}))
        self.assertFalse(run_sv.record_matches(rec, {"pcap_cnt": 1}))


class SuricataConfig(unittest.TestCase):
    """A test's own suricata.yaml becomes a tripline configuration (outputs, stream keys)."""

    def translate(self, text):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "suricata.yaml")
            with open(src, "w") as f:
                f.write(text)
            out = run_sv.tripline_config(src, os.path.join(d, "tripline.yaml"))
            if out is None:
                return None
            with open(out) as f:
                return run_sv.yaml.safe_load(f)

    def test_outputs(self):
        got = self.translate("""%YAML 1.1
---
logging:
  default-log-level: notice
outputs:
  - fast:
      enabled: yes
      filename: fast.log
      append: yes
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert:
            payload: yes
        - flow
        - ssh
        - http
  - stats:
      enabled: yes
  - eve-log:
      filetype: unix_stream
      filename: /x.sock
stream:
  midstream: true
  reassembly:
    depth: 1mb
exception-policy: auto
""")
        self.assertEqual(got, {
            "outputs": {
                "fast": {"type": "fast", "enabled": True, "filename": "fast.log", "append": True},
                "eve-log": {"type": "eve-file", "enabled": True, "filename": "eve.json",
                            "types": ["alert", "flow", "http"]},
            },
            "stream": {"midstream": True, "reassembly": {"depth": "1mb"}},
        })

    def test_nothing_to_translate(self):
        self.assertIsNone(self.translate("logging:\n  default-log-level: info\n"))
        # an eve-log whose types tripline does not write is turned off, not widened to all
        got = self.translate("outputs:\n  - eve-log:\n      types: [ssh, smtp]\n")
        self.assertEqual(got["outputs"]["eve-log"]["enabled"], False)


if __name__ == "__main__":
    unittest.main()
