// A fresh project that depends on kalman-norm (this checkout, linked), as a user would have it.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * Runs `source` as the file `name` of a fresh project that depends on kalman-norm (this checkout)
 * and on `packages`, linked from this checkout's node_modules (a peer such as @tensorflow/tfjs).
 */
export function runAsConsumer(name: string, source: string, packages: string[] = []): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kn-consumer-'));
  try {
    fs.mkdirSync(path.join(home, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(home, 'node_modules', 'kalman-norm'), 'dir');
    for (const dependency of packages) {
      const link = path.join(home, 'node_modules', dependency);
      fs.mkdirSync(path.dirname(link), { recursive: true });
      fs.symlinkSync(path.join(ROOT, 'node_modules', dependency), link, 'dir');
    }
    fs.writeFileSync(path.join(home, name), source);
    return execFileSync(process.execPath, [path.join(home, name)], { cwd: home, encoding: 'utf8' });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}
