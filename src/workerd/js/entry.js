// Our entry module, loaded next to the user's module in the job's own isolate.
//
// It answers the loader's load probe (the user's module evaluated and has a fetch handler)
// and otherwise calls the user's handler with a context of its own: `waitUntil` keeps nothing
// alive past the response, so once the response is read nothing of the job can still run.
// Nothing here is a secret: the loader, in another isolate, classifies what it observes.

import * as user from "user.js";

const PROBE = "x-serverless-executor-probe";

const context = Object.freeze({
  waitUntil() {},
  passThroughOnException() {},
});

export default {
  fetch(request, env) {
    if (request.headers.has(PROBE)) {
      const loaded = typeof user.default?.fetch === "function";
      return new Response(null, { status: loaded ? 204 : 500 });
    }
    return user.default.fetch(request, env, context);
  },
};
