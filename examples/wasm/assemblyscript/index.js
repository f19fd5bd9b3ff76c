// The prime-factor job as a bundle: this JS entry reads {"num": N} and asks the AssemblyScript
// module (factor.wasm, built by ../build.sh) for each factor. Same output as the JS example.
import factor from "./factor.wasm";

const { smallestFactor } = new WebAssembly.Instance(factor, {}).exports;

export default {
  async fetch(request) {
    const { num } = await request.json();
    let n = BigInt(num);
    const factors = [];
    while (n > 1n) {
      const d = smallestFactor(n);
      factors.push(d);
      n /= d;
    }
    return new Response(factors.join(","));
  },
};
