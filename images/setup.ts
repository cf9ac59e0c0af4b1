// Global setup of the images project: a reachable Docker Engine (started by lib/engine.sh where
// this process may: root on Linux), every image built or found up to date (a first run says up
// front what it will build and about how long that takes), and Testcontainers pointed at the
// local reaper image.
import { ensureImages } from './factory/build.ts';
import { ensureEngine } from '../lib/engine.ts';
import { useLocalRyuk } from './factory/testcontainers.ts';

export default async function setup(): Promise<void> {
  const log = (l: string) => console.log(`[images] ${l}`);
  await ensureEngine(log);
  await ensureImages([], { log: (l) => log(`images: ${l}`) });
  await useLocalRyuk({ log });
}
