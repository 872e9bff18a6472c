// Counters for /metrics in the Prometheus text exposition format. Gauges (connections,
// rooms) are read from the registry at scrape time rather than kept twice.

export interface Gauges {
  connections: number;
  rooms: number;
}

export class Metrics {
  messagesAccepted = 0;
  private readonly rejectedByReason = new Map<string, number>();

  rejected(reason: string): void {
    this.rejectedByReason.set(reason, (this.rejectedByReason.get(reason) ?? 0) + 1);
  }

  /** Renders every metric; `extra` is appended as is (process metrics of the runtime). */
  render(gauges: Gauges, extra = ''): string {
    const lines = [
      '# HELP edgechat_connections Open WebSocket connections.',
      '# TYPE edgechat_connections gauge',
      `edgechat_connections ${gauges.connections}`,
      '# HELP edgechat_rooms Rooms held in memory.',
      '# TYPE edgechat_rooms gauge',
      `edgechat_rooms ${gauges.rooms}`,
      '# HELP edgechat_messages_accepted_total Chat messages accepted and broadcast.',
      '# TYPE edgechat_messages_accepted_total counter',
      `edgechat_messages_accepted_total ${this.messagesAccepted}`,
      '# HELP edgechat_frames_rejected_total Inbound frames refused, by error code.',
      '# TYPE edgechat_frames_rejected_total counter',
      ...Array.from(this.rejectedByReason, ([reason, count]) => `edgechat_frames_rejected_total{reason="${reason}"} ${count}`),
    ];
    return `${lines.join('\n')}\n${extra}`;
  }
}
