// The GPU model's occupancy column (model.ts): each KN/GKN kernel's registers and static shared
// memory on sm_90, from ptxas (nvcc -Xptxas -v, the build's own flags; about 10 s a file), and the
// blocks of 256 threads an SM can hold with them, by the sm_90 rules of CUDA's occupancy
// calculator (cuda_occupancy.h): 65,536 registers an SM allocated 256 at a time per warp and 4
// warps at a time, 64 warps, 32 blocks, 228 KB of shared memory with 1 KB reserved a block.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const KERNEL_FILES = ['kalman_norm_forward.cu', 'kalman_norm_backward.cu'];
const THREADS = 256;

export interface KernelResources {
  kernel: string;
  instantiations: number;
  registers: [number, number]; // least and most over the instantiations
  staticShared: number; // bytes, the most
  blocksPerSm: [number, number]; // with the most and the least registers
  occupancy: [number, number];
}

/** Blocks of `threads` threads one sm_90 SM holds, and the share of its 64 warps they fill. */
export function occupancy(registers: number, sharedBytes: number, threads = THREADS): { blocks: number; occupancy: number } {
  const warps = Math.ceil(threads / 32);
  const registersPerWarp = Math.ceil((registers * 32) / 256) * 256;
  const warpsByRegisters = Math.floor(Math.floor(65536 / registersPerWarp) / 4) * 4;
  const sharedPerBlock = Math.ceil((sharedBytes + 1024) / 128) * 128;
  const blocks = Math.min(32, Math.floor(64 / warps), Math.floor(warpsByRegisters / warps), Math.floor(233472 / sharedPerBlock));
  return { blocks, occupancy: (blocks * warps) / 64 };
}

/** ptxas' entries: (mangled name, registers, static shared bytes) of every kernel for sm_90. */
function ptxasEntries(nvcc: string, file: string): { name: string; registers: number; shared: number }[] {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kn-ptxas-')), 'kernels.cubin');
  const run = spawnSync(nvcc, ['-std=c++17', '-O3', '-fmad=false', '-arch=sm_90', '-cubin', '-Xptxas', '-v', '-o', out, file], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`nvcc failed on ${file}: ${run.stderr}`);
  const entries: { name: string; registers: number; shared: number }[] = [];
  let current: string | null = null;
  for (const line of run.stderr.split('\n')) {
    const entry = /Compiling entry function '([^']+)' for 'sm_90'/.exec(line);
    if (entry) current = entry[1];
    const used = /Used (\d+) registers/.exec(line);
    if (used && current) {
      const shared = /(\d+) bytes smem/.exec(line); // absent when the kernel has none
      entries.push({ name: current, registers: Number(used[1]), shared: shared ? Number(shared[1]) : 0 });
      current = null;
    }
  }
  return entries;
}

/** The template's name of a mangled kernel ("run_statistics_kernel"), demangled by c++filt. */
function kernelName(mangled: string): string {
  const demangled = spawnSync('c++filt', [mangled], { encoding: 'utf8' }).stdout?.trim() || mangled;
  const match = /(\w+)</.exec(demangled.replace(/^void /, '').replace(/\(anonymous namespace\)::/g, ''));
  return match ? match[1] : demangled;
}

/**
 * Every kernel of the KN/GKN passes ("forward: walk_kernel"), over its instantiations (dtypes,
 * epilogues, vector widths), or why there is no table (no nvcc here). The shared memory is the
 * static part; the NHWC statistics kernel adds 256 x 12 (forward) or 8 (backward) bytes of dynamic
 * shared memory, too little to change its blocks per SM.
 */
export function kernelResources(): KernelResources[] | { reason: string } {
  const nvcc = ['nvcc', '/usr/local/cuda/bin/nvcc'].find((candidate) => spawnSync(candidate, ['--version']).status === 0);
  if (!nvcc) return { reason: 'occupancy: nvcc not found (it reads the registers from ptxas)' };
  const cudaDir = path.join(__dirname, '..', '..', '..', 'cuda');
  const byKernel = new Map<string, { registers: number[]; shared: number[] }>();
  for (const file of KERNEL_FILES)
    for (const entry of ptxasEntries(nvcc, path.join(cudaDir, file))) {
      const name = `${file.replace('kalman_norm_', '').replace('.cu', '')}: ${kernelName(entry.name)}`;
      const seen = byKernel.get(name) ?? { registers: [], shared: [] };
      seen.registers.push(entry.registers);
      seen.shared.push(entry.shared);
      byKernel.set(name, seen);
    }
  return [...byKernel.entries()].map(([kernel, seen]) => {
    const least = Math.min(...seen.registers), most = Math.max(...seen.registers), shared = Math.max(...seen.shared);
    const worst = occupancy(most, shared), best = occupancy(least, shared);
    return { kernel, instantiations: seen.registers.length, registers: [least, most], staticShared: shared, blocksPerSm: [worst.blocks, best.blocks], occupancy: [worst.occupancy, best.occupancy] };
  });
}
