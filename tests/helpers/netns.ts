/**
 * Network namespaces for the UDP tests: two namespaces joined by a veth pair, made and removed
 * by the test (names start with zmf-udp-), and processes run inside them whose output lines a
 * test can wait for. Needs root and iproute2; `netnsUnavailable()` says why not otherwise.
 */
import { spawnSync } from "bun";
import { Proc } from "../../support/proc.ts";

export { Proc };
import { join } from "node:path";

export const KERNEL_PY = join(import.meta.dir, "udp_kernel.py");

/** Why namespace tests cannot run here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  for (const cmd of ["ip", "ethtool", "python3"]) {
    if (Bun.which(cmd) === null) return `needs ${cmd}`;
  }
  return null;
}

function sh(args: string[]): string {
  const r = spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${args.join(" ")} failed (${r.exitCode}): ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** Two namespaces, `a` and `b`, joined by veth `va` (in a) and `vb` (in b), offloads off. */
export class NetnsPair {
  readonly id = ((Math.random() * 0x10000) | 0).toString(16).padStart(4, "0");
  readonly a = `zmf-udp-a${this.id}`;
  readonly b = `zmf-udp-b${this.id}`;
  readonly va = `zmf-udp-a${this.id}`;
  readonly vb = `zmf-udp-b${this.id}`;
  readonly ip4a = "10.77.0.1";
  readonly ip4b = "10.77.0.2";
  readonly ip6a = "fd00:77::1";
  readonly ip6b = "fd00:77::2";
  macA = "";
  macB = "";
  readonly #procs: Proc[] = [];

  constructor() {
    sh(["ip", "netns", "add", this.a]);
    try {
      sh(["ip", "netns", "add", this.b]);
      sh(["ip", "link", "add", this.va, "netns", this.a, "type", "veth", "peer", "name", this.vb, "netns", this.b]);
      for (const [ns, dev, v4, v6] of [
        [this.a, this.va, this.ip4a, this.ip6a],
        [this.b, this.vb, this.ip4b, this.ip6b],
      ] as const) {
        sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
        sh(["ip", "-n", ns, "addr", "add", `${v4}/24`, "dev", dev]);
        sh(["ip", "-n", ns, "-6", "addr", "add", `${v6}/64`, "dev", dev, "nodad"]);
        sh(["ip", "-n", ns, "link", "set", dev, "up"]);
        // real checksums on the wire, no super-frames, and the receiver checks every checksum
        const off = ["tx", "rx", "tso", "gso", "gro"].flatMap((f) => [f, "off"]);
        spawnSync(["ip", "netns", "exec", ns, "ethtool", "-K", dev, ...off], { stdout: "ignore", stderr: "ignore" });
        // flow labels off, so an IPv6 header is byte for byte what we build
        sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.auto_flowlabels=0"]);
      }
      this.macA = JSON.parse(sh(["ip", "-n", this.a, "-j", "link", "show", this.va]))[0].address;
      this.macB = JSON.parse(sh(["ip", "-n", this.b, "-j", "link", "show", this.vb]))[0].address;
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** Runs `cmd` in namespace `ns`, following its output. */
  spawn(ns: string, cmd: string[], stdin: "pipe" | "ignore" = "ignore"): Proc {
    const p = new Proc(["ip", "netns", "exec", ns, ...cmd], stdin);
    this.#procs.push(p);
    return p;
  }

  /** udp_kernel.py in namespace `ns`. */
  py(ns: string, args: string[], stdin: "pipe" | "ignore" = "ignore"): Proc {
    return this.spawn(ns, ["python3", KERNEL_PY, ...args], stdin);
  }

  /** Runs to completion; stdout. */
  run(ns: string, cmd: string[]): string {
    return sh(["ip", "netns", "exec", ns, ...cmd]);
  }

  destroy(): void {
    for (const p of this.#procs.splice(0)) p.kill();
    spawnSync(["ip", "netns", "del", this.a], { stderr: "ignore" });
    spawnSync(["ip", "netns", "del", this.b], { stderr: "ignore" });
  }
}
