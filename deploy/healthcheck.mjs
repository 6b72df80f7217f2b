// Container health check for docker compose: exit 0 when the service's /healthz answers 2xx. Plain JS
// (no tsx start-up on every probe) because the node image has no curl or wget.
//   node deploy/healthcheck.mjs http://127.0.0.1:7070/healthz
const url = process.argv[2];

function fail(message) {
  process.stderr.write(`unhealthy: ${message}\n`);
  process.exit(1);
}

if (!url || !/^https?:\/\//.test(url)) fail("usage: healthcheck.mjs <http(s) url of /healthz>");
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  if (!res.ok) fail(`${url} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
} catch (e) {
  fail(`${url}: ${e instanceof Error ? e.message : String(e)}`);
}
