import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeReports, ensureEnvFile, ensureOverlaySecrets, parseEnv, randomSecret, MissingSecretsError } from '../../lib/secrets.ts';

const dirs: string[] = [];
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'secrets-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('npm run secrets', () => {
  it('writes a missing env file with fresh random values, readable by its owner only', () => {
    const d = scratch();
    writeFileSync(join(d, 'app.env.example'), '# comment\nMASTER=@random:sk-\nEMAIL=admin@chat.local\n');
    const r = ensureEnvFile(join(d, 'app.env.example'));
    expect(r).toMatchObject({ created: true, added: [], missing: [] });
    const env = parseEnv(readFileSync(join(d, 'app.env'), 'utf8'));
    expect(env.get('MASTER')).toMatch(/^sk-[A-Za-z0-9_-]{43}$/);
    expect(env.get('EMAIL')).toBe('admin@chat.local');
    expect(statSync(join(d, 'app.env')).mode & 0o777).toBe(0o600);
  });

  it('never changes an existing value, and adds keys the example gained', () => {
    const d = scratch();
    writeFileSync(join(d, 'app.env.example'), 'MASTER=@random\nNEW=@random\n');
    writeFileSync(join(d, 'app.env'), 'MASTER=mine');
    const r = ensureEnvFile(join(d, 'app.env.example'));
    expect(r).toMatchObject({ created: false, added: ['NEW'], missing: [] });
    const env = parseEnv(readFileSync(join(d, 'app.env'), 'utf8'));
    expect(env.get('MASTER')).toBe('mine');
    expect(env.get('NEW')).toHaveLength(43);
  });

  it('generates different values each time', () => {
    const values = [0, 1].map(() => {
      const d = scratch();
      writeFileSync(join(d, 'a.env.example'), 'K=@random\n');
      ensureEnvFile(join(d, 'a.env.example'));
      return parseEnv(readFileSync(join(d, 'a.env'), 'utf8')).get('K');
    });
    expect(values[0]).not.toBe(values[1]);
  });

  it('builds values from generated ones (${KEY}), also for keys added later, and names a dangling reference', () => {
    const d = scratch();
    writeFileSync(join(d, 'db.env.example'), 'PASSWORD=@random\nURL=postgresql://app:${PASSWORD}@postgres:5432/app\n');
    ensureEnvFile(join(d, 'db.env.example'));
    let env = parseEnv(readFileSync(join(d, 'db.env'), 'utf8'));
    expect(env.get('URL')).toBe(`postgresql://app:${env.get('PASSWORD')}@postgres:5432/app`);
    expect(env.get('PASSWORD')).toHaveLength(43);
    // A key the example gains later refers to the value already in the file.
    writeFileSync(
      join(d, 'db.env.example'),
      'PASSWORD=@random\nURL=postgresql://app:${PASSWORD}@postgres:5432/app\nREDIS=redis://:${PASSWORD}@redis:6379/0\n',
    );
    ensureEnvFile(join(d, 'db.env.example'));
    env = parseEnv(readFileSync(join(d, 'db.env'), 'utf8'));
    expect(env.get('REDIS')).toBe(`redis://:${env.get('PASSWORD')}@redis:6379/0`);
    writeFileSync(join(d, 'bad.env.example'), 'URL=postgresql://app:${PASWORD}@postgres/app\n');
    expect(() => ensureEnvFile(join(d, 'bad.env.example'))).toThrow(
      /bad.env.example: URL refers to \$\{PASWORD\}, which the file does not define/,
    );
  });

  it('reports values only a person can provide, with the file to edit', () => {
    const d = scratch();
    mkdirSync(join(d, 'local/prod'), { recursive: true });
    writeFileSync(join(d, 'local/prod/litellm.env.example'), 'LITELLM_MASTER_KEY=@random\nANTHROPIC_API_KEY=\n');
    const reports = ensureOverlaySecrets(join(d, 'local/prod'));
    expect(reports[0]!.missing).toEqual(['ANTHROPIC_API_KEY']);
    expect(new MissingSecretsError(reports, d).message).toContain('local/prod/litellm.env: ANTHROPIC_API_KEY');
  });

  it('leaves an @optional key empty without calling it missing, names it, and keeps a value given later', () => {
    const d = scratch();
    writeFileSync(join(d, 'litellm.env.example'), 'ANTHROPIC_API_KEY=\nVOYAGE_API_KEY=@optional\n');
    let r = ensureEnvFile(join(d, 'litellm.env.example'));
    expect(r).toMatchObject({ created: true, missing: ['ANTHROPIC_API_KEY'], unset: ['VOYAGE_API_KEY'] });
    expect(parseEnv(readFileSync(join(d, 'litellm.env'), 'utf8')).get('VOYAGE_API_KEY')).toBe('');
    expect(describeReports([r], d)).toEqual(['litellm.env: created; fill in: ANTHROPIC_API_KEY; optional, not set: VOYAGE_API_KEY']);
    writeFileSync(join(d, 'litellm.env'), 'ANTHROPIC_API_KEY=a\nVOYAGE_API_KEY=v\n');
    r = ensureEnvFile(join(d, 'litellm.env.example'));
    expect(r).toMatchObject({ missing: [], unset: [] });
    expect(parseEnv(readFileSync(join(d, 'litellm.env'), 'utf8')).get('VOYAGE_API_KEY')).toBe('v');
  });

  it('keeps the value of a key that moved to another file, and builds URLs from another file of the directory', () => {
    const d = scratch();
    // An install made when one file held the passwords and the URL...
    const kept = randomSecret();
    const url = (password: string) => ['postgresql://app', `${password}@db/app`].join(':');
    writeFileSync(join(d, 'datastores.env'), `POSTGRES_PASSWORD=${kept}\nDATABASE_URL=${url(kept)}\n`);
    // ...meets examples that moved the password to a file of its own.
    writeFileSync(join(d, 'datastore-servers.env.example'), 'POSTGRES_PASSWORD=@random\nREDIS_PASSWORD=@random\n');
    writeFileSync(
      join(d, 'datastores.env.example'),
      'DATABASE_URL=postgresql://app:${POSTGRES_PASSWORD}@db/app\nREDIS_URL=redis://:${REDIS_PASSWORD}@redis:6379/0\n',
    );
    const reports = ensureOverlaySecrets(d);
    expect(reports.map((r) => [r.created, r.added])).toEqual([
      [true, []],
      [false, ['REDIS_URL']],
    ]);
    const servers = parseEnv(readFileSync(join(d, 'datastore-servers.env'), 'utf8'));
    const urls = parseEnv(readFileSync(join(d, 'datastores.env'), 'utf8'));
    expect(servers.get('POSTGRES_PASSWORD')).toBe(kept);
    expect(servers.get('REDIS_PASSWORD')).toHaveLength(43);
    expect(urls.get('DATABASE_URL')).toBe(url(kept));
    expect(urls.get('REDIS_URL')).toBe(`redis://:${servers.get('REDIS_PASSWORD')}@redis:6379/0`);
    // A fresh directory: the URLs are built from the passwords generated in the other file.
    const fresh = scratch();
    for (const f of ['datastore-servers.env.example', 'datastores.env.example']) writeFileSync(join(fresh, f), readFileSync(join(d, f)));
    ensureOverlaySecrets(fresh);
    const password = parseEnv(readFileSync(join(fresh, 'datastore-servers.env'), 'utf8')).get('POSTGRES_PASSWORD');
    expect(password).toHaveLength(43);
    expect(parseEnv(readFileSync(join(fresh, 'datastores.env'), 'utf8')).get('DATABASE_URL')).toBe(url(password!));
  });
});
