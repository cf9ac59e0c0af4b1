// The node's CoreDNS is a build with only the plugins its Corefile uses (coredns/main.go). These
// checks fail when the Corefile gains a directive the build lacks, or when the build's plugin
// order drifts from CoreDNS's own plugin.cfg. node.test.ts proves a pod resolves a Service
// through the running CoreDNS.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const HERE = import.meta.dirname;
const main = readFileSync(join(HERE, 'coredns/main.go'), 'utf8');
const version = JSON.parse(readFileSync(join(HERE, 'image.json'), 'utf8')).inputs.coredns as string;

/** The directives the build registers, in order (the `dnsserver.Directives` literal). */
function registered(): string[] {
  const list = /dnsserver\.Directives = \[\]string\{([^}]*)\}/.exec(main)?.[1];
  if (!list) throw new Error('coredns/main.go: no dnsserver.Directives literal');
  return [...list.matchAll(/"([a-z0-9_]+)"/g)].map((m) => m[1]);
}

/** Plugin packages the build imports, by directory name. */
function imported(): string[] {
  return [...main.matchAll(/_ "github\.com\/coredns\/coredns\/plugin\/([a-z0-9_]+)"/g)].map((m) => m[1]);
}

/** First words of the lines one level inside the Corefile's server blocks. */
function corefileDirectives(corefile: string): string[] {
  const found: string[] = [];
  let depth = 0;
  for (const raw of corefile.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    if (depth === 1 && line !== '}') found.push(line.split(/\s+/)[0]);
    depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
  }
  return found;
}

// plugin.cfg names a directive and its package; "prometheus:metrics" is the one that differs.
function pluginCfg(): { directive: string; pkg: string }[] {
  const env = { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '' };
  let dir: string;
  try {
    dir = JSON.parse(
      execFileSync('go', ['mod', 'download', '-json', `github.com/coredns/coredns@${version}`], {
        cwd: join(HERE, 'coredns'),
        env,
        encoding: 'utf8',
      }),
    ).Dir;
  } catch (e) {
    throw new Error(
      `reading CoreDNS ${version}'s plugin.cfg needs Go and the Go module proxy (images/k3s/prepare.sh installs Go): ${(e as Error).message}`,
    );
  }
  return readFileSync(join(dir, 'plugin.cfg'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [directive, pkg] = l.split(':');
      return { directive, pkg };
    });
}

describe(`CoreDNS ${version}, built with the node's plugins only`, () => {
  const corefile =
    /Corefile: \|\n((?: {4}.*\n|\n)+)/.exec(readFileSync(join(HERE, 'src/nodeconfig/manifests/coredns.yaml'), 'utf8'))?.[1] ?? '';

  it("registers every directive of the node's Corefile", () => {
    const used = corefileDirectives(corefile);
    // Positive control on the parser: the Corefile's known first and last plugins are seen.
    expect(used).toEqual(expect.arrayContaining(['errors', 'kubernetes', 'forward', 'loadbalance']));
    expect(used.filter((d) => !registered().includes(d))).toEqual([]);
  });

  it("registers what it imports and imports what it registers, in the order of CoreDNS's plugin.cfg", () => {
    const cfg = pluginCfg();
    const reg = registered();
    const pkgOf = new Map(cfg.map((p) => [p.directive, p.pkg]));
    expect(reg.filter((d) => !pkgOf.has(d))).toEqual([]);
    expect(reg.map((d) => pkgOf.get(d)).sort()).toEqual(imported().sort());
    expect(reg).toEqual(cfg.map((p) => p.directive).filter((d) => reg.includes(d)));
  });

  it('pins the version image.json names', () => {
    expect(readFileSync(join(HERE, 'coredns/go.mod'), 'utf8')).toMatch(
      new RegExp(`github\\.com/coredns/coredns ${version.replace(/\./g, '\\.')}\\b`),
    );
  });
});
