// The load client as its own process (forked by bench/run.ts): it runs one job per IPC
// message and answers with the result, so its CPU is its own and the orchestrator's is not
// in the way.
import { runJob, type Job } from './client.ts';

process.on('message', async (job: Job) => {
  try {
    process.send!({ ok: true, result: await runJob(job) });
  } catch (error) {
    process.send!({ ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
