#!/usr/bin/env bash
# curl against the standalone server, started with a manual clock:
#   vidu-lipsync-mock serve --clock manual
# Run: MOCK_URL=http://127.0.0.1:8000 bash recipe_curl.sh
set -euo pipefail
BASE=${MOCK_URL:-http://127.0.0.1:8000}
AUTH="Authorization: Bearer mdlx-vidulipsyncmock000000000000000000000000000000000"

# Submit through the CLI's path (no /async suffix): the service accepts both.
curl -sS -X POST "$BASE/api/v1/vidu/lip-sync" -H "$AUTH" -H "Content-Type: application/json" \
  -d "{\"video_url\": \"$BASE/media/input-video.mp4?mock=fail\"}" > submit.json
TASK_ID=$(python3 -c 'import json; print(json.load(open("submit.json"))["data"]["task_id"])')

# Finish it through the admin API, then poll: the magic ?mock=fail made it fail.
curl -sS -X POST "$BASE/_mock/clock/run-until-terminal" -H "Content-Type: application/json" \
  -d "{\"task_id\": \"$TASK_ID\"}" > /dev/null
curl -sS "$BASE/api/v1/tasks/$TASK_ID" -H "$AUTH" > task.json
python3 - <<'PY'
import json
data = json.load(open("task.json"))["data"]
assert data["status"] == "failed", data
print("failed as asked:", data["error_message"])
PY

# A ranged request for a sample file, as a video player makes.
curl -sS -r 0-99 -o head.bin -w '%{http_code} %{size_download}\n' "$BASE/media/result.mp4"

# What the client did, from the journal (JSON lines).
curl -sS "$BASE/_mock/journal.jsonl?route=poll" | python3 -c '
import json, sys
for line in sys.stdin:
    entry = json.loads(line)
    print(entry["method"], entry["path"], entry["status"])
'
