// JSON in, JSON out: {"numbers": [..]} -> {"count", "sum", "max"}.
export default {
  async fetch(request) {
    const { numbers } = await request.json();
    const sum = numbers.reduce((a, b) => a + b, 0);
    const body = JSON.stringify({ count: numbers.length, sum, max: Math.max(...numbers) });
    return new Response(body, { headers: { "content-type": "application/json" } });
  },
};
