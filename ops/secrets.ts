#!/usr/bin/env node
// npm run secrets [-- --overlay <name>]: writes the missing secrets/*.env files of every overlay
// (or one) from their *.env.example, with fresh random values; existing values are kept. An
// overlay with secrets/tls-hosts also gets a local CA and a certificate for those hosts.
import { relative } from 'node:path';
import { parseCommand } from '../lib/cli.ts';
import { ensureOverlaySecrets, ensureOverlayTls, describeReports } from '../lib/secrets.ts';
import { REPO_ROOT, listOverlays, localDir } from '../lib/kustomize.ts';

const { values } = parseCommand({
  command: 'npm run secrets --',
  summary:
    "Writes the missing env files of every overlay's local instance (manifests/local/<overlay>/*.env, or one\noverlay's) from their *.env.example with fresh random values; existing values are kept. A local\ninstance with a tls-hosts file also gets a local CA and a certificate. Then: kubectl apply -k manifests/local/<overlay>",
  options: { overlay: { type: 'string', value: 'NAME', help: 'only this overlay' } },
});
const overlays = values.overlay ? [values.overlay] : listOverlays();
let todo = 0;
for (const name of overlays) {
  const reports = ensureOverlaySecrets(localDir(name));
  for (const line of describeReports(reports, REPO_ROOT)) console.log(line);
  const tls = await ensureOverlayTls(localDir(name));
  if (tls)
    console.log(
      `${relative(REPO_ROOT, tls.ca)}: ${tls.created.length ? 'created' : 'kept'}; trust it (browser or OS store) to reach https://${tls.hosts[0]} without a warning`,
    );
  todo += reports.reduce((n, r) => n + r.missing.length, 0);
}
if (todo > 0) console.log(`\n${todo} value(s) need your input (see "fill in" above); the files are mode 0600 and gitignored.`);
