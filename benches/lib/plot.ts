/**
 * `--plot FILE.svg`: received Mpps by packet size, one line per throughput case (median of the
 * rounds, with a bar from min to max), on a log size axis. Plain SVG, no dependencies.
 */
import type { Row } from "./report.ts";

const W = 900;
const H = 520;
const M = { left: 64, right: 280, top: 48, bottom: 56 };
/** One color per line (a scenario's cases in shades of its hue); s2c lines are dashed. */
const PALETTE: Record<string, readonly string[]> = {
  "bun-bun": ["#d62728", "#ff9896"],
  "bun-dpdk": ["#ff7f0e", "#8c564b", "#e377c2", "#bcbd22"],
  "dpdk-dpdk": ["#1f77b4", "#aec7e8"],
  "rust-rust": ["#2ca02c", "#98df8a"],
  udp: ["#7f7f7f"],
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** 1, 2, 5 × 10^k steps giving about 6 ticks up to `max`. */
function ticks(max: number): number[] {
  const raw = max / 6;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? p * 10;
  const out: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(Number(v.toFixed(6)));
  return out;
}

export function plotSvg(rows: Row[], title: string): string {
  const flows = rows.filter((r) => r.c.scenario !== "echo" && r.ok.length > 0);
  const sizes = [...new Set(flows.map((r) => r.size))].sort((a, b) => a - b);
  const keys = [...new Set(flows.map((r) => `${r.key}|${r.c.tx} → ${r.c.rx}`))];
  const ymax = Math.max(1, ...flows.map((r) => r.rx_mpps.max)) * 1.08;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const lo = Math.log(Math.min(...sizes, 64) * 0.8);
  const hi = Math.log(Math.max(...sizes, 9000) * 1.25);
  const x = (size: number) => M.left + ((Math.log(size) - lo) / (hi - lo)) * pw;
  const y = (mpps: number) => M.top + ph - (mpps / ymax) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"` +
      ` font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const t of ticks(ymax)) {
    out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (const s of sizes) {
    out.push(`<line x1="${x(s)}" x2="${x(s)}" y1="${M.top}" y2="${M.top + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x(s)}" y="${M.top + ph + 18}" text-anchor="middle">${s}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">packet size, bytes (log scale)</text>`);
  out.push(
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">` +
      "received Mpps (median of rounds, bar: min–max)</text>",
  );
  keys.forEach((k, i) => {
    const [key, label] = k.split("|") as [string, string];
    const pts = flows.filter((r) => r.key === key).sort((a, b) => a.size - b.size);
    const scenario = pts[0]!.c.scenario;
    const shades = PALETTE[scenario] ?? ["#9467bd"];
    const nth = keys.slice(0, i).filter((k2) => k2.startsWith(`${scenario} `)).length;
    const color = shades[nth % shades.length]!;
    const dash = pts[0]!.c.direction === "s2c" ? ` stroke-dasharray="6 4"` : "";
    const path = pts
      .map((r, j) => `${j === 0 ? "M" : "L"}${x(r.size).toFixed(1)},${y(r.rx_mpps.median).toFixed(1)}`)
      .join(" ");
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    for (const r of pts) {
      const cx = x(r.size).toFixed(1);
      const [lo, mid, hi] = [r.rx_mpps.min, r.rx_mpps.median, r.rx_mpps.max].map((v) => y(v).toFixed(1));
      const tip = esc(`${key} ${r.size} B: ${r.rx_mpps.median.toFixed(2)} Mpps`);
      out.push(`<line x1="${cx}" x2="${cx}" y1="${lo}" y2="${hi}" stroke="${color}"/>`);
      out.push(`<circle cx="${cx}" cy="${mid}" r="3" fill="${color}"><title>${tip}</title></circle>`);
    }
    const ly = M.top + 8 + i * 18;
    const lx = M.left + pw + 16;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    const name = esc(`${scenario} ${label.replace(/ \((txonly|rxonly)\)/g, "")}`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${name}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
