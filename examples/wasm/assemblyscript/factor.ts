// The arithmetic of the prime-factor job in AssemblyScript: the smallest factor of n greater
// than 1 (n itself when n is prime). The JS entry (index.js) reads the input and loops.
export function smallestFactor(n: u64): u64 {
  for (let d: u64 = 2; d * d <= n; d++) {
    if (n % d == 0) return d;
  }
  return n;
}
