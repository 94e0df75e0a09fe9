#!/usr/bin/env bash
# Re-make the committed recbench/pretrained/ cache layer (package data) with recbench's own command (see docs/pretrained.md).
# Trains SASRec and the fast-profile adapter in a fresh cache, then copies the two cache entries and
# writes recbench/pretrained/PROVENANCE.json (command, date, machine, sha256 of every file, by path in the layer).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CACHE:-$(mktemp -d)}
CMD=(.venv/bin/recbench run --rec sasrec --llm smollm2-135m --out "$CACHE/runs")
# SKIP_RUN=1 with CACHE=<folder> packages a cache that this command already filled (same command).
if [ -z "${SKIP_RUN:-}" ]; then
  RECBENCH_CACHE="$CACHE" RECBENCH_PRETRAINED=/nonexistent "${CMD[@]}" "$@"
fi
LAYER=recbench/pretrained
rm -rf "$LAYER/recommenders" "$LAYER/interpreters"
mkdir -p "$LAYER"
cp -r "$CACHE/recommenders" "$CACHE/interpreters" "$LAYER/"
.venv/bin/python - "$CACHE" "${CMD[*]} $*" "$LAYER" <<'PY'
import datetime, hashlib, json, pathlib, platform, sys, os
root = pathlib.Path(sys.argv[3])
files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file() and p.name != "PROVENANCE.json"}
run = next(pathlib.Path(sys.argv[1], "runs").glob("*/results.json"))
res = json.loads(run.read_text())
info = {"command": sys.argv[2].replace(sys.argv[1], "<tmp>"), "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}", "recbench_git": res["recbench"],
        "recommender": {k: res["recommender"][k] for k in ("name", "checkpoint_sha256", "test", "train_seconds")},
        "interpreter": {"label": res["interpreter"]["label"], "training": res["interpreter"]["training"]}, "files": files}
(root / "PROVENANCE.json").write_text(json.dumps(info, indent=2) + "\n")
print(json.dumps({k: info[k] for k in ("command", "created")}))
PY
