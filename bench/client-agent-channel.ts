import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Lab, LabHost } from '../src/lab/netns.js';
import type { AgentAnswer, AgentRequest } from './client-agent.js';

/** Distributes Omit over the request union, so each op keeps its own fields. */
type Request = AgentRequest extends infer R ? (R extends AgentRequest ? Omit<R, 'id'> : never) : never;

/** An answer slower than this means the agent is stuck; the bench fails rather than hang. */
const ANSWER_TIMEOUT_MS = 60_000;

/** The parent's end of a client agent running in a lab host (started through the lab, so destroy() kills it). */
export class ClientAgent {
  private readonly waiting = new Map<number, (a: AgentAnswer) => void>();
  private seq = 0;

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const a = JSON.parse(line) as AgentAnswer;
      this.waiting.get(a.id)?.(a);
      this.waiting.delete(a.id);
    });
  }

  static start(lab: Lab, host: LabHost): ClientAgent {
    const script = fileURLToPath(new URL('./client-agent.js', import.meta.url));
    return new ClientAgent(lab.spawn(host, process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] }));
  }

  ask(req: Request): Promise<AgentAnswer> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`client agent did not answer ${req.op} within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      this.waiting.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      this.child.stdin!.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  /** ms from the request's packet to the first connect, or undefined when it did not open in time. */
  async openMs(req: Extract<Request, { op: 'knock-open' | 'spa-open' }>): Promise<number | undefined> {
    const a = await this.ask(req);
    return a.ok ? a.openMs : undefined;
  }

  close(): void {
    this.child.stdin?.end();
  }
}
