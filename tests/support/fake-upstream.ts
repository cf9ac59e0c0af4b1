// Reading what the fake Anthropic upstream received, through its port-forward.
import type { RecordedRequest } from '../../fake-anthropic/src/server.ts';
import type { FaultRule } from '../../fake-anthropic/src/faults.ts';
import { stack } from './live.ts';

function url(): string {
  if (!stack.urls.fakeAnthropic) throw new Error('the stack has no forward to fake-anthropic (dev overlay only)');
  return `${stack.urls.fakeAnthropic}/_fake/requests`;
}

export async function upstreamRequests(): Promise<RecordedRequest[]> {
  const res = await fetch(url());
  if (!res.ok) throw new Error(`GET /_fake/requests: ${res.status}`);
  return (await res.json()) as RecordedRequest[];
}

export async function resetUpstream(): Promise<void> {
  const res = await fetch(url(), { method: 'DELETE' });
  if (!res.ok) throw new Error(`DELETE /_fake/requests: ${res.status}`);
}

/** Replaces the fake's fault rules (fake-anthropic/src/faults.ts); [] clears them. `baseUrl`: another stack's forward to its fake. */
export async function setFaults(rules: FaultRule[], baseUrl = stack.urls.fakeAnthropic): Promise<void> {
  if (!baseUrl) throw new Error('the stack has no forward to fake-anthropic (dev overlay only)');
  const res = await fetch(`${baseUrl}/_fake/faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(rules),
  });
  if (!res.ok) throw new Error(`PUT /_fake/faults: ${res.status} ${await res.text()}`);
}
