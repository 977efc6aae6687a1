/**
 * Neighbours: which MAC address to put on a frame for an IP address. memif carries no ARP or
 * NDP of ours (behind the forwarder the kernel answers those), so the table is filled by
 * learning: every accepted datagram teaches "its source IP sits behind its source MAC", which
 * for a host on the link is the host itself and for one behind a router is the router, in both
 * cases the right next hop for a reply. Static entries (options) and a default next hop (for
 * addresses never heard from, e.g. a client's first send) complete it.
 *
 * Bounded: at most `max` learned entries; the oldest is forgotten first. Learning the same
 * (address, MAC) again, the common case on a busy flow, costs two comparisons.
 */

export class Neighbours {
  readonly max: number;
  /** bumped whenever an address's MAC changes: templates made with the old MAC are stale */
  version = 0;
  /** the MAC for addresses with no entry, or -1 */
  defaultMac: number;
  readonly #v4 = new Map<number, number>();
  readonly #v6 = new Map<string, number>();
  readonly #static4 = new Set<number>();
  readonly #static6 = new Set<string>();
  #last4 = -1;
  #lastMac4 = -1;
  #last6: string | null = null;
  #lastMac6 = -1;

  constructor(max = 4096, defaultMac = -1) {
    this.max = max;
    this.defaultMac = defaultMac;
  }

  /** A static IPv4 entry: never replaced by learning. */
  add4(ip: number, mac: number): void {
    this.#static4.add(ip);
    this.#set(this.#v4, ip, mac);
  }

  /** A static IPv6 entry (`key`: the address in RFC 5952 text). */
  add6(key: string, mac: number): void {
    this.#static6.add(key);
    this.#set(this.#v6, key, mac);
  }

  learn4(ip: number, mac: number): void {
    if (ip === this.#last4 && mac === this.#lastMac4) return;
    this.#last4 = ip;
    this.#lastMac4 = mac;
    if (this.#static4.has(ip)) return;
    this.#set(this.#v4, ip, mac);
  }

  learn6(key: string, mac: number): void {
    if (key === this.#last6 && mac === this.#lastMac6) return;
    this.#last6 = key;
    this.#lastMac6 = mac;
    if (this.#static6.has(key)) return;
    this.#set(this.#v6, key, mac);
  }

  /** The MAC for an IPv4 address: its entry, else the default next hop, else -1. */
  lookup4(ip: number): number {
    return this.#v4.get(ip) ?? this.defaultMac;
  }

  lookup6(key: string): number {
    return this.#v6.get(key) ?? this.defaultMac;
  }

  /** Entries, for inspection: address text → MAC number. */
  get size(): number {
    return this.#v4.size + this.#v6.size;
  }

  entries4(): IterableIterator<[number, number]> {
    return this.#v4.entries();
  }

  entries6(): IterableIterator<[string, number]> {
    return this.#v6.entries();
  }

  #set<K>(map: Map<K, number>, key: K, mac: number): void {
    const old = map.get(key);
    if (old === mac) return;
    if (old !== undefined) {
      this.version++;
      map.delete(key); // re-inserted below: it becomes the youngest
    } else if (this.#v4.size + this.#v6.size >= this.max) {
      this.#evictOne(map);
    }
    map.set(key, mac);
  }

  #evictOne<K>(prefer: Map<K, number>): void {
    const pick = (m: Map<unknown, number>, statics: Set<unknown>): boolean => {
      for (const k of m.keys()) {
        if (statics.has(k)) continue;
        m.delete(k);
        return true;
      }
      return false;
    };
    const first = (prefer as Map<unknown, number>) === this.#v4 ? 4 : 6;
    if (first === 4) pick(this.#v4, this.#static4) || pick(this.#v6, this.#static6);
    else pick(this.#v6, this.#static6) || pick(this.#v4, this.#static4);
    // templates made with a forgotten entry keep its MAC: still the right one
  }
}
