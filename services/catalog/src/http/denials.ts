// Refused requests (401/403), kept in a bounded ring for admins (GET /v1/admin/denials). They are not
// dataset history, so they never go to the commit log; each one is also a log line, which is the
// durable record. The ring is per process: a restart empties it.
import type { CatalogDenial } from "@lake/contracts";

/** A refused request as GET /v1/admin/denials lists it (the wire type lives in contracts). */
export type Denial = CatalogDenial;

export class DenialLog {
  private readonly ring: (Denial | undefined)[];
  private total = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<Denial | undefined>(capacity);
  }

  add(d: Omit<Denial, "seq">): Denial {
    const entry = { seq: ++this.total, ...d };
    this.ring[(entry.seq - 1) % this.capacity] = entry;
    return entry;
  }

  /** Denials with seq > after, oldest first, at most `limit`; `dropped` counts those the ring has let go. */
  list(after: number, limit: number): { denials: Denial[]; next_after: number | null; total: number; dropped: number } {
    const oldest = Math.max(1, this.total - this.capacity + 1);
    const out: Denial[] = [];
    for (let seq = Math.max(after + 1, oldest); seq <= this.total && out.length < limit; seq++) out.push(this.ring[(seq - 1) % this.capacity]!);
    const last = out.at(-1);
    return { denials: out, next_after: last && last.seq < this.total ? last.seq : null, total: this.total, dropped: oldest - 1 };
  }
}
