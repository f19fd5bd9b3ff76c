// A pure function: the input is a number as text, the output its square.
export default {
  async fetch(request) {
    const n = Number(await request.text());
    return new Response(String(n * n));
  },
};
