// Loaded into every service with NODE_OPTIONS="--import …/cpu-profile-hook.mjs" by `npm run bench --
// --profile DIR` (Node refuses --cpu-prof in NODE_OPTIONS): profiles the whole process with the
// in-process inspector and writes DIR/<service>-<pid>.cpuprofile when it exits (an orderly stop).
import { Session } from "node:inspector";
import { writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

const dir = process.env.LAKE_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 1000 });
  session.post("Profiler.start");
  process.on("exit", () => {
    // The in-process session answers synchronously, so this works in an exit handler.
    session.post("Profiler.stop", (err, res) => {
      if (err) return;
      const entry = process.argv[1] ?? "node";
      const name = `${basename(dirname(dirname(entry)))}-${process.env.LAKE_DATASET ?? process.env.LAKE_DERIVED ?? ""}-${process.pid}`.replace(/-+$/, "").replace(/--/g, "-");
      writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
