/**
 * A heap snapshot (bench/population-memory.ts writes one of the main thread) summed by kind: for each node type
 * and constructor name (strings by type alone), how many there are and their own size, largest first.
 *
 *   npx tsx bench/population-heap.ts <file.heapsnapshot> [rows]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const [file, rows = '30'] = process.argv.slice(2);
if (!file) throw new Error('usage: population-heap.ts <file.heapsnapshot> [rows]');
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const width = fields.length;
const typeAt = fields.indexOf('type');
const nameAt = fields.indexOf('name');
const sizeAt = fields.indexOf('self_size');
const sums = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + typeAt]!]!;
  const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + nameAt]!]! : '';
  const key = name ? `${type} ${name}` : type;
  const size = snap.nodes[i + sizeAt]!;
  total += size;
  const s = sums.get(key);
  if (s) {
    s.count++;
    s.bytes += size;
  } else sums.set(key, { count: 1, bytes: size });
}
const mib = (n: number): string => (n / 1024 ** 2).toFixed(1);
process.stdout.write(`total self size ${mib(total)} MiB\n`);
for (const [key, s] of [...sums].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(rows))) {
  process.stdout.write(`${mib(s.bytes).padStart(8)} MiB ${String(s.count).padStart(10)}  ${key.slice(0, 100)}\n`);
}
