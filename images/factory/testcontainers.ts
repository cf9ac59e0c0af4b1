// Testcontainers settings for machines without a container registry: the resource reaper
// (upstream image testcontainers/ryuk, which cannot be pulled here) comes from images/ryuk/.
// Call before the first container starts (global setups, dev scripts); testcontainers reads
// RYUK_CONTAINER_IMAGE lazily, so setting it after importing testcontainers is fine.
import { GenericContainer } from 'testcontainers';
import { ensureImage } from './build.ts';
import { imageExists } from '../../lib/docker.ts';
import { recipeImageRef } from './recipes.ts';
import { MIRROR_ENV, pullUpstream } from '../../lib/registry-mirror.ts';

/** The reaper image testcontainers-node 12 uses by default (node_modules/testcontainers/build/reaper/reaper.js). */
export const UPSTREAM_RYUK_IMAGE = 'testcontainers/ryuk:0.14.0';
export const LOCAL_RYUK_RECIPE = 'ryuk';

export interface TestcontainersEnv {
  /** the reaper image testcontainers will use */
  ryukImage: string;
  /** where it came from */
  source: 'RYUK_CONTAINER_IMAGE already set' | 'upstream image present' | 'local build' | 'reaper disabled';
}

/**
 * Points RYUK_CONTAINER_IMAGE at chatstack.local/ryuk:<tag> unless the caller already chose a
 * reaper image, disabled the reaper, or the upstream image is present locally.
 * With `build: true` (default) the local image is built first if missing or stale.
 */
export async function useLocalRyuk(opts: { build?: boolean; log?: (line: string) => void } = {}): Promise<TestcontainersEnv> {
  if (process.env.TESTCONTAINERS_RYUK_DISABLED === 'true') return { ryukImage: '', source: 'reaper disabled' };
  const preset = process.env.RYUK_CONTAINER_IMAGE;
  if (preset) return { ryukImage: preset, source: 'RYUK_CONTAINER_IMAGE already set' };
  if (await imageExists(UPSTREAM_RYUK_IMAGE)) return { ryukImage: UPSTREAM_RYUK_IMAGE, source: 'upstream image present' };

  const ref =
    opts.build === false ? await recipeImageRef(LOCAL_RYUK_RECIPE) : (await ensureImage(LOCAL_RYUK_RECIPE, { log: opts.log })).ref;
  if (opts.build === false && !(await imageExists(ref))) {
    throw new Error(`reaper image ${ref} is not built (npm run images:build -- --only ${LOCAL_RYUK_RECIPE})`);
  }
  process.env.RYUK_CONTAINER_IMAGE = ref;
  return { ryukImage: ref, source: 'local build' };
}

/**
 * The reaper for a stack of `mode`: hermetic, as useLocalRyuk; upstream, Testcontainers' own
 * image, pulled ahead (through CHATSTACK_REGISTRY_MIRROR's mirror when set, which Testcontainers'
 * own pull would not use) so that nothing is compiled in upstream mode.
 */
export async function useReaper(mode: 'upstream' | 'hermetic', opts: { log?: (line: string) => void } = {}): Promise<TestcontainersEnv> {
  if (mode === 'hermetic' || process.env.TESTCONTAINERS_RYUK_DISABLED === 'true' || process.env.RYUK_CONTAINER_IMAGE)
    return useLocalRyuk(opts);
  if (!(await imageExists(UPSTREAM_RYUK_IMAGE))) {
    opts.log?.(`pulling ${UPSTREAM_RYUK_IMAGE} (Testcontainers' reaper)`);
    const pull = await pullUpstream(UPSTREAM_RYUK_IMAGE, 5 * 60_000);
    if (pull.code !== 0)
      throw new Error(
        `could not pull Testcontainers' reaper ${pull.from}: ${pull.stderr.split('\n').pop()}. Mirror it (${MIRROR_ENV}), set RYUK_CONTAINER_IMAGE to a copy, or TESTCONTAINERS_RYUK_DISABLED=true.`,
      );
  }
  return { ryukImage: UPSTREAM_RYUK_IMAGE, source: 'upstream image present' };
}

/** An image started locked down as the manifests' securityContext runs a pod: read-only root, no capabilities, no privilege gain. */
export function lockedDownContainer(image: string): GenericContainer {
  return new (class extends GenericContainer {
    constructor(ref: string) {
      super(ref);
      this.hostConfig.ReadonlyRootfs = true;
    }
  })(image)
    .withDroppedCapabilities('ALL')
    .withSecurityOpt('no-new-privileges');
}
