/**
 * Anthropic's Messages streaming protocol (https://docs.anthropic.com/en/api/messages-streaming)
 * for one text reply: message_start, content_block_start, ping, one content_block_delta
 * (text_delta) per token, content_block_stop, message_delta (stop reason, final usage),
 * message_stop. Frames are strings; writing them is the caller's business.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { usageObject, type ReplyPlan } from './reply.ts';

export const SSE_CONTENT_TYPE = 'text/event-stream; charset=utf-8';

/** One server-sent event: `event: <name>`, `data: <json>`, blank line. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Everything before the first text: message_start (empty content), content_block_start, ping. */
export function openingFrames(id: string, model: string, plan: ReplyPlan): string[] {
  return [
    sseFrame('message_start', {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: usageObject(plan.inputTokens, 1),
      },
    }),
    sseFrame('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sseFrame('ping', { type: 'ping' }),
  ];
}

export function textDeltaFrame(text: string): string {
  return sseFrame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
}

/** Everything after the last text: content_block_stop, message_delta, message_stop. */
export function closingFrames(plan: ReplyPlan): string[] {
  return [
    sseFrame('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sseFrame('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: plan.stopReason, stop_sequence: plan.stopSequence },
      usage: {
        input_tokens: plan.inputTokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: plan.outputTokens,
      },
    }),
    sseFrame('message_stop', { type: 'message_stop' }),
  ];
}

export interface StreamPacing {
  /** Pause before each text_delta, in ms (0: none). */
  tokenDelayMs: number;
  /** Aborted when the client goes away: nothing more is written. */
  signal: AbortSignal;
  /** Called right after each text_delta is written. */
  onToken: () => void;
  /**
   * A fault mid-stream: before text delta number `afterTokens` (0-based), `run` is awaited; it
   * resolves false to end the stream there (the connection is gone), true to go on.
   */
  interrupt?: { afterTokens: number; run: () => Promise<boolean> };
}

/** Waits `ms`; false if `signal` aborted the wait. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (ms <= 0) return true;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes the whole stream for `plan` through `write`, pacing the deltas. Resolves true when the
 * stream is complete (the caller then ends the response), false when it was aborted.
 */
export async function writeMessageStream(
  write: (frame: string) => void,
  message: { id: string; model: string; plan: ReplyPlan },
  pacing: StreamPacing,
): Promise<boolean> {
  const { signal } = pacing;
  const send = (frame: string): void => {
    if (!signal.aborted) write(frame);
  };
  for (const frame of openingFrames(message.id, message.model, message.plan)) send(frame);
  for (const [i, token] of message.plan.tokens.entries()) {
    if (pacing.interrupt && i === Math.min(pacing.interrupt.afterTokens, message.plan.tokens.length - 1) && !(await pacing.interrupt.run()))
      return false;
    if (!(await pause(pacing.tokenDelayMs, signal)) || signal.aborted) break;
    send(textDeltaFrame(token));
    pacing.onToken();
  }
  if (signal.aborted) return false;
  for (const frame of closingFrames(message.plan)) send(frame);
  return true;
}
