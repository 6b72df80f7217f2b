// Threshold alerts. A service measures a value (consumer lag, freshness) against a configured
// threshold; crossing it fires the alert, coming back under resolves it. Each transition is a log
// line, a gauge (lake_alert_active) and an AlertChanged record on lake.alerts.<alert>.
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";

import { alertChangedCodec } from "@lake/contracts";
import { type Gauge, Gauge as GaugeClass, injectTrace, type Logger, type Registry } from "@lake/telemetry";

import { HEADERS } from "./commitlog.ts";
import { subjects } from "./streams.ts";

export type AlertTransition = "fire" | "resolve" | undefined;

/** Pure: what a new measurement does to an alert that is (or isn't) firing. */
export function alertTransition(firing: boolean, value: number, threshold: number): AlertTransition {
  if (!firing && value > threshold) return "fire";
  if (firing && value <= threshold) return "resolve";
  return undefined;
}

export class Alerts {
  private readonly firing = new Set<string>();
  private readonly active: Gauge;
  private readonly value: Gauge;

  constructor(private readonly o: { js: JetStreamClient; service: string; log: Logger; registry: Registry; now?: () => number }) {
    this.active = new GaugeClass({ name: "lake_alert_active", help: "1 while the alert fires", labelNames: ["alert", "subject"], registers: [o.registry] });
    this.value = new GaugeClass({
      name: "lake_alert_value",
      help: "Last measured value of the alert's quantity",
      labelNames: ["alert", "subject"],
      registers: [o.registry],
    });
  }

  isFiring(alert: string, subject: string): boolean {
    return this.firing.has(`${alert}\u0000${subject}`);
  }

  /** Records a measurement; publishes a transition if it crossed the threshold (undefined threshold: off). */
  async check(alert: string, subject: string, value: number, threshold: number | undefined, unit: string): Promise<AlertTransition> {
    this.value.set({ alert, subject }, value);
    if (threshold === undefined) return undefined;
    const key = `${alert}\u0000${subject}`;
    const t = alertTransition(this.firing.has(key), value, threshold);
    if (!t) return undefined;
    const state = t === "fire" ? "firing" : "resolved";
    const message = `${alert} of ${subject} is ${value} ${unit} (threshold ${threshold} ${unit}): ${state}`;
    const h = natsHeaders();
    h.set(HEADERS.record, alertChangedCodec.name);
    injectTrace(h);
    // Published first: if NATS is down the alert state doesn't change and the next check tries again.
    await this.o.js.publish(
      subjects.alerts(alert),
      alertChangedCodec.encode({ alert, state, service: this.o.service, subject, value, threshold, message, at: (this.o.now ?? Date.now)() }),
      { headers: h },
    );
    if (t === "fire") this.firing.add(key);
    else this.firing.delete(key);
    this.active.set({ alert, subject }, t === "fire" ? 1 : 0);
    (t === "fire" ? this.o.log.warn : this.o.log.info)(`alert ${state}`, { alert, subject, value, threshold });
    return t;
  }
}
