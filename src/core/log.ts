// One JSON object per line on stdout, the format log collectors on every platform read.
// Never pass message text or tokens in here.
export function logEvent(event: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ ts: new Date().toISOString(), event, ...fields }));
}
