// A Node.js client (v18+, built-in fetch) against the standalone server.
// Run: MOCK_URL=http://127.0.0.1:8000 node recipe_node.mjs
// The server should run with a manual clock: vidu-lipsync-mock serve --clock manual
import assert from "node:assert/strict";

const base = process.env.MOCK_URL ?? "http://127.0.0.1:8000";
const headers = {
  Authorization: "Bearer mdlx-vidulipsyncmock000000000000000000000000000000000",
  "Content-Type": "application/json",
};

async function call(method, url, body) {
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

// Submit, exactly as against https://api.modellix.ai.
const submitted = await call("POST", `${base}/api/v1/vidu/lip-sync/async`, {
  video_url: `${base}/media/input-video.mp4`,
  audio_url: `${base}/media/input-audio.mp3`,
});
assert.equal(submitted.status, 200);
const task = submitted.json.data;
assert.equal(task.status, "pending");

// The admin API moves the mock's clock until the task has ended: no waiting.
await call("POST", `${base}/_mock/clock/run-until-terminal`, { task_id: task.task_id });

// Poll where the service said to.
const polled = await call("GET", task.get_result.url);
assert.equal(polled.json.data.status, "success");
const [video] = polled.json.data.result.resources;

// Download the result: a real MP4.
const download = await fetch(video.url);
const bytes = new Uint8Array(await download.arrayBuffer());
assert.equal(download.headers.get("content-type"), "video/mp4");
assert.equal(new TextDecoder().decode(bytes.slice(4, 8)), "ftyp");

// Inject a fault for the next poll and watch the client see it.
await call("POST", `${base}/_mock/faults`, { fault: "error", status: 503, route: "poll", once: true });
const failed = await call("GET", task.get_result.url);
assert.equal(failed.status, 503);
assert.match(failed.json.message, /^Service unavailable: /);

console.log(`ok: ${task.task_id} -> ${video.width}x${video.height} ${bytes.length} bytes`);
