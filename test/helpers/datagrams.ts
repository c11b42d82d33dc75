import { type ChildProcess, spawn } from 'node:child_process';
import { waitFor } from './wait.ts';

// A Unix datagram receiver: Node has no such socket, Python does (node-gyp needs it anyway).
const RECEIVER = `
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path.replace('@', '\\0', 1) if path.startswith('@') else path)
if not path.startswith('@'): os.chmod(path, 0o666)
print('ready', flush=True)
while True:
    data = s.recv(65536)
    print(data.hex(), flush=True)
`;

/** A Unix datagram socket that collects what is sent to it, as journald or syslogd would. */
export class DatagramReceiver {
  readonly path: string;
  private readonly child: ChildProcess;
  private output = '';

  private constructor(path: string, child: ChildProcess) {
    this.path = path;
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
  }

  /** Binds `path` (an abstract address when it starts with '@') and waits until it is bound. */
  static async open(path: string): Promise<DatagramReceiver> {
    const child = spawn('python3', ['-c', RECEIVER, path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const receiver = new DatagramReceiver(path, child);
    try {
      // An event, however long a loaded machine takes to start Python (15 s was not enough
      // at a load of 48).
      await waitFor(
        `a datagram receiver on ${path}`,
        () => (receiver.output.startsWith('ready\n') ? true : undefined),
        { timeoutMs: 120_000 },
      );
    } catch (error) {
      // Nor may it outlive a test that gave up on it: the test file would never end.
      receiver.close();
      throw error;
    }
    return receiver;
  }

  /** Every datagram received so far, as text. */
  messages(): string[] {
    return this.output
      .split('\n')
      .slice(1)
      .filter((line) => line !== '')
      .map((hex) => Buffer.from(hex, 'hex').toString());
  }

  /** Waits for a datagram that `match` accepts (what a manager says as it starts, too). */
  waitFor(what: string, match: (message: string) => boolean): Promise<string> {
    return waitFor(what, () => this.messages().find(match), {
      timeoutMs: 120_000,
      describe: () => JSON.stringify(this.messages().slice(-10)),
    });
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}
