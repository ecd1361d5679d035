#!/bin/sh
# deploy/ checks of the ops suite: `promtool check rules` and `promtool test rules` on the alert
# rules (skipped with exit 77 when promtool, Debian package `prometheus`, is not installed), and
# the Grafana dashboard parses as JSON with a datasource input and panels.
set -u
deploy=$1
python3 - "$deploy/grafana/ringward-pipeline.json" <<'PY' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["uid"] == "ringward-pipeline" and len(d["panels"]) >= 10, "dashboard incomplete"
for p in d["panels"]:
    assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
print("grafana dashboard: %d panels" % len(d["panels"]))
PY
if ! command -v promtool > /dev/null; then
  echo "SKIP: promtool not installed (apt-get install prometheus)"
  exit 77
fi
cd "$deploy/prometheus" || exit 1
promtool check rules ringward-alerts.yml || exit 1
promtool test rules ringward-alerts.test.yml || exit 1
