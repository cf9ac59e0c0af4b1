// Backup archives edited the way a broken or foreign one would be, for restore's refusals.
import { createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable, type Writable } from 'node:stream';
import { createGzip, gunzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

/** Writes `out`: the members of archive `file` in order, each passed through `edit` (renamed when it returns a name). */
export async function rewriteArchive(
  file: string,
  out: string,
  edit: (name: string, body: Buffer) => Buffer | [string, Buffer],
): Promise<void> {
  const members: [string, Buffer][] = [];
  const extract = tar.extract();
  extract.on('entry', (h, s, next) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: unknown) => chunks.push(c as Buffer));
    s.on('end', () => (members.push([h.name, Buffer.concat(chunks)]), next()));
  });
  await pipeline(Readable.from(gunzipSync(readFileSync(file))), extract as unknown as Writable);
  const pack = tar.pack();
  const written = pipeline(pack as unknown as Readable, createGzip(), createWriteStream(out));
  for (const [name, body] of members) {
    const edited = edit(name, body);
    const [n, b] = Array.isArray(edited) ? edited : [name, edited];
    pack.entry({ name: n }, b);
  }
  pack.finalize();
  await written;
}
