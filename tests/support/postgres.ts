// SQL against the in-cluster Postgres, as Open WebUI connects: psql in the Postgres pod over TCP
// as the database's owner role (datastore-servers.env; the pod's loopback is trusted, as upstream's
// image sets it, so this holds across password rotations).
import { kc, secret, stack } from './live.ts';
import { execIn, podOf } from '../../lib/kube/pod.ts';

/** Runs one statement (or several, `;`-separated) and returns psql's unaligned, tuples-only output. */
export async function sql(query: string): Promise<string> {
  const pod = (await podOf(kc, stack.namespace, 'postgres')).metadata!.name!;
  const env = ['env', `PGPASSWORD=${secret('datastore-servers.env', 'POSTGRES_PASSWORD')}`];
  const user = secret('datastore-servers.env', 'POSTGRES_USER');
  const db = secret('datastore-servers.env', 'POSTGRES_DB');
  const r = await execIn(kc, stack.namespace, pod, 'postgres', [
    ...env,
    'psql',
    '-v',
    'ON_ERROR_STOP=1',
    '-h',
    '127.0.0.1',
    '-U',
    user,
    '-d',
    db,
    '-tAc',
    query,
  ]);
  if (r.code !== 0) throw new Error(`psql ${query}: ${r.stderr}`);
  return r.stdout.trim();
}
