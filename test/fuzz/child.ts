// One fuzz worker, run in its own process so that a crash is seen as one (fuzz.test.ts, main.ts):
// `node child.js SEED CASES` prints the FuzzReport as JSON.
import { runFuzz } from './cases';

const [seed, cases] = process.argv.slice(2).map(Number);
process.stdout.write(JSON.stringify(runFuzz(seed, cases)));
