// Live updates for the console: GET /v1/events, a server-sent event stream fed from NATS. Each batch of
// commit-log records the projection applies becomes one `commits` event (so a client's next read sees
// them: they are applied before they are announced), each alert transition on lake.alerts.> one
// `alert` event. A caller only hears about datasets it may read. Events only say *what changed*; the
// page reads the details through the ordinary API, so a missed event costs a refresh, never a wrong view.
//
// Bounded: a client that doesn't read is cut off once MAX_BUFFERED bytes wait for it (its EventSource
// reconnects and the page reads everything again), at most `maxClients` streams are open at once, a
// comment line every `heartbeatMs` keeps proxies from closing an idle stream and finds dead sockets, and
// close() ends every stream with a `bye` event so a stopping catalog isn't held open by its listeners.
import type { ServerResponse } from "node:http";

import { HttpError } from "@lake/http";
import type { Logger } from "@lake/telemetry";

import type { Catalog } from "../catalog.ts";
import { type Identity, mayRead } from "../domain/auth.ts";
import type { AlertEntry, AlertFeed } from "../nats/alerts.ts";
import type { AppliedRecord } from "../nats/tail.ts";
import type { ApiRequest } from "./request.ts";

/** What may wait in one client's socket buffer before the client is cut off. */
export const MAX_BUFFERED = 1024 * 1024;

interface Client {
  res: ServerResponse;
  identity: Identity | undefined;
}

export class EventHub {
  private readonly clients = new Set<Client>();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: (() => void)[] = [];
  /** Clients cut off for not reading (a count for the logs and tests). */
  overflows = 0;

  constructor(
    private readonly o: {
      catalog: Catalog;
      alerts: AlertFeed | undefined;
      log: Logger;
      heartbeatMs: number;
      maxClients: number;
    },
  ) {
    this.unsubscribe.push(o.catalog.onApplied((applied) => this.commits(applied)));
    if (o.alerts) this.unsubscribe.push(o.alerts.onAlert((a) => this.alert(a)));
    this.timer = setInterval(() => this.broadcast(() => ": ping\n\n"), o.heartbeatMs);
    this.timer.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** The GET /v1/events handler: the stream stays open until the client leaves or the hub closes. */
  readonly attach = (r: ApiRequest): void => {
    if (this.clients.size >= this.o.maxClients)
      throw new HttpError(503, "too_many_streams", `the catalog already serves ${this.o.maxClients} event streams; retry later`);
    const { res } = r;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      // A buffering proxy would hold events back until its buffer fills.
      "x-accel-buffering": "no",
    });
    const client: Client = { res, identity: r.identity };
    this.clients.add(client);
    const leave = () => this.clients.delete(client);
    res.on("close", leave);
    r.req.on("close", leave);
    // `retry`: how soon a dropped EventSource reconnects; `hello` says where the projection stands.
    this.send(client, `retry: 2000\nevent: hello\ndata: ${JSON.stringify({ projected_through_seq: this.o.catalog.projection.lastSeq })}\n\n`);
  };

  private commits(applied: readonly AppliedRecord[]): void {
    if (this.clients.size === 0) return;
    const position = this.o.catalog.projection.lastSeq;
    this.broadcast((c) => {
      const records = c.identity ? applied.filter((a) => mayRead(c.identity!, a.dataset)) : applied;
      // An empty batch (a rebuild's swap) still tells the page to read again.
      if (records.length === 0 && applied.length > 0) return undefined;
      return `id: ${position}\nevent: commits\ndata: ${JSON.stringify({ projected_through_seq: position, records })}\n\n`;
    });
  }

  private alert(a: AlertEntry): void {
    this.broadcast((c) => (c.identity && !mayRead(c.identity, a.subject) ? undefined : `event: alert\ndata: ${JSON.stringify(a)}\n\n`));
  }

  private broadcast(message: (c: Client) => string | undefined): void {
    for (const c of this.clients) {
      const m = message(c);
      if (m !== undefined) this.send(c, m);
    }
  }

  private send(c: Client, text: string): void {
    if (c.res.writableLength > MAX_BUFFERED) {
      // It stopped reading: drop it rather than buffer without bound (its EventSource reconnects).
      this.overflows++;
      this.clients.delete(c);
      this.o.log.warn("event stream client cut off: it stopped reading", { buffered_bytes: c.res.writableLength });
      c.res.destroy();
      return;
    }
    c.res.write(text);
  }

  /** Ends every stream (with a `bye` event) and stops listening. */
  close(): void {
    clearInterval(this.timer);
    for (const u of this.unsubscribe) u();
    for (const c of this.clients) c.res.end("event: bye\ndata: {}\n\n");
    this.clients.clear();
  }
}
