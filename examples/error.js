// An error case: a negative input throws, which ends the job with outcome 7 (uncaught
// exception); other inputs are echoed.
export default {
  async fetch(request) {
    const n = Number(await request.text());
    if (n < 0) {
      throw new RangeError(`negative input: ${n}`);
    }
    return new Response(String(n));
  },
};
