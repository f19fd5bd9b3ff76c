#!/usr/bin/env node
// Compiles contracts/**/*.sol with the pinned solc-js installed in .tools/ (scripts/setup.sh) and
// writes build/contracts/<ContractName>.json = {"abi": [...], "bytecode": "0x..."} for every
// deployable (non-abstract) contract. Skips the work when nothing changed (hash stamp in
// build/contracts/.stamp) unless --force is given. After compiling it checks the event topics and
// function selectors that must match the protocol reference (serverless-v2 wire compatibility) and fails
// if any differs.
//
// usage: node scripts/compile-contracts.mjs [--force] [--quiet]

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CONTRACTS_DIR = path.join(ROOT, 'contracts');
const OUT_DIR = path.join(ROOT, 'build', 'contracts');
const STAMP = path.join(OUT_DIR, '.stamp');
const TOOLS_MODULES = path.join(ROOT, '.tools', 'node_modules');

const args = new Set(process.argv.slice(2));
const force = args.has('--force');
const quiet = args.has('--quiet');
for (const a of args) {
  if (a !== '--force' && a !== '--quiet') fail(`unknown argument ${a} (usage: compile-contracts.mjs [--force] [--quiet])`);
}

const SOLC_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.methodIdentifiers'], '': ['ast'] } },
};

// ---- wire-compat expectations (protocol.md section 3 and its appendix) ----
const EXPECTED_TOPICS = {
  Jobs: {
    'JobCreated(uint256,uint8,address,bytes32,bytes,uint256,address[])':
      '0x52a40f74e443e82ca6251ea4549e7a2c0f2f9e872d9405226603ad5613aa1319',
    'JobResponded(uint256,address,bytes,uint256,uint8,uint8)':
      '0x44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233',
    'SlashedOnExecutionTimeout(uint256,address)':
      '0x5b7be43a9005feced634aa3c4ee6edf6d75149d297a3349f0e066743f4e440e7',
    'JobResultCallbackCalled(uint256,bool)': null,
    'JobFailureCallbackCalled(uint256,bool)': null,
    'GlobalEnvAdded(uint8,uint256,uint256)': null,
    'GlobalEnvRemoved(uint8)': null,
  },
  Executors: {
    'ExecutorRegistered(address,address,uint256,uint8)':
      '0xec0a27e4d50a399506fe5b90d1dfbf556cc157b511ace50f261f7770aeedb4b6',
    'ExecutorDeregistered(address)': '0xbae032118ceb22b626b3d85db081a22cb175340e28f4e1c422b88586ea62c3d6',
    'ExecutorDrained(address)': '0xbc8209b628dec8f50f80614244ca3538613f5a92ebf236778af1a3d3a4773748',
    'ExecutorRevived(address)': '0x324d2b90019de3cd7d938c2ea2fef740e139932db1fa947d1f24ab10b1002a7f',
    'ExecutorStakeAdded(address,uint256)': null,
    'ExecutorStakeRemoved(address,uint256)': null,
  },
  CodeContract: { 'CodeCreated(address,bytes)': null },
};
const EXPECTED_SELECTORS = {
  Jobs: {
    'submitOutput(bytes,uint256,bytes,uint256,uint8,uint256)': '4af50fc8',
    'slashOnExecutionTimeout(uint256)': '95e11ef7',
    'createJob(uint8,bytes32,bytes,uint256)': 'e7eba19b',
  },
  Executors: {
    'registerExecutor(bytes,(bytes,bytes,bytes,bytes,uint256),uint256,uint256,bytes,uint256,uint8)': 'eaaf229c',
  },
  CodeContract: {
    'saveCodeInCallData(string)': 'ff7cdaf3',
    'saveCodeInCallData(string,bytes)': '1ae53fea',
  },
};

// cast looks the selector of a custom error up at api.4byte.sourcify.dev (DNS + HTTPS) when a
// `cast send` reverts, unless it is in $HOME/.foundry/cache/signatures. We keep a cache seeded with
// every selector of these contracts under .tools/foundry-home, and run cast with
// HOME=.tools/foundry-home (scripts/deploy-contracts.sh, contracts/README.md) so that nothing
// leaves loopback and reverts are printed by name.
const SIG_CACHE = path.join(ROOT, '.tools', 'foundry-home', '.foundry', 'cache', 'signatures');
function writeSignatureCache(artifactsByName, keccak256) {
  const canon = (p) => (p.type.startsWith('tuple') ? `(${p.components.map(canon).join(',')})${p.type.slice(5)}` : p.type);
  let cache = { functions: {}, errors: {}, events: {} };
  try {
    const old = JSON.parse(fs.readFileSync(SIG_CACHE, 'utf8'));
    cache = { functions: old.functions || {}, errors: old.errors || {}, events: old.events || {} };
  } catch {
    // no cache yet
  }
  for (const art of Object.values(artifactsByName)) {
    for (const item of art.abi) {
      if (!['function', 'error', 'event'].includes(item.type)) continue;
      const sig = `${item.name}(${item.inputs.map(canon).join(',')})`;
      const h = `0x${keccak256(sig)}`;
      if (item.type === 'event') cache.events[h] = sig;
      else cache[`${item.type}s`][h.slice(0, 10)] = sig;
    }
  }
  for (const sig of ['Error(string)', 'Panic(uint256)']) cache.errors[`0x${keccak256(sig).slice(0, 8)}`] = sig;
  fs.mkdirSync(path.dirname(SIG_CACHE), { recursive: true });
  fs.writeFileSync(SIG_CACHE, JSON.stringify(cache));
}

function fail(msg) {
  console.error(`compile: ERROR: ${msg}`);
  process.exit(1);
}
function log(msg) {
  if (!quiet) console.error(`compile: ${msg}`);
}

function listSol(dir) {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...listSol(p));
    else if (ent.isFile() && ent.name.endsWith('.sol')) out.push(p);
  }
  return out.sort();
}

function requireTool(name) {
  const req = createRequire(path.join(TOOLS_MODULES, 'noop.js'));
  try {
    return req(name);
  } catch (e) {
    fail(`cannot load ${name} from ${TOOLS_MODULES} (run scripts/setup.sh first): ${e.message}`);
  }
}

if (!fs.existsSync(CONTRACTS_DIR)) fail(`no contracts directory at ${CONTRACTS_DIR}`);
const files = listSol(CONTRACTS_DIR);
if (files.length === 0) fail('no .sol files under contracts/');

// solc version without loading the (slow) compiler: read its package.json
let solcPkg;
try {
  solcPkg = JSON.parse(fs.readFileSync(path.join(TOOLS_MODULES, 'solc', 'package.json'), 'utf8'));
} catch (e) {
  fail(`solc is not installed in .tools (run scripts/setup.sh first): ${e.message}`);
}

const sources = {};
const h = createHash('sha256');
h.update(`solc ${solcPkg.version}\n${JSON.stringify(SOLC_SETTINGS)}\n`);
h.update(fs.readFileSync(fileURLToPath(import.meta.url)));
for (const f of files) {
  const rel = path.relative(CONTRACTS_DIR, f).split(path.sep).join('/');
  const content = fs.readFileSync(f, 'utf8');
  sources[rel] = { content };
  h.update(`\n--- ${rel}\n`);
  h.update(content);
}
const hash = h.digest('hex');

let previous = null;
try {
  previous = JSON.parse(fs.readFileSync(STAMP, 'utf8'));
} catch {
  previous = null;
}
if (
  !force &&
  previous &&
  previous.hash === hash &&
  Array.isArray(previous.contracts) &&
  previous.contracts.every((n) => fs.existsSync(path.join(OUT_DIR, `${n}.json`)))
) {
  log(`up to date (${previous.contracts.length} contracts, solc ${solcPkg.version})`);
  if (!fs.existsSync(SIG_CACHE)) {
    const { keccak256 } = requireTool('js-sha3');
    writeSignatureCache(
      Object.fromEntries(previous.contracts.map((n) => [n, JSON.parse(fs.readFileSync(path.join(OUT_DIR, `${n}.json`), 'utf8'))])),
      keccak256,
    );
  }
  process.exit(0);
}

const solc = requireTool('solc');
const { keccak256 } = requireTool('js-sha3');

const input = { language: 'Solidity', sources, settings: SOLC_SETTINGS };
const findImports = (p) => {
  // every source under contracts/ is already in the input; refuse anything else
  return { error: `import not found (only files under contracts/ are available): ${p}` };
};
const t0 = Date.now();
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) {
  if (e.severity !== 'error' && !quiet) console.error(`compile: ${e.severity}: ${e.formattedMessage.trim()}`);
}
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage.trim());
  fail(`solc ${solc.version()} reported ${errors.length} error(s)`);
}

// which contracts are deployable: kind "contract" and not abstract
const deployable = new Set();
for (const [src, o] of Object.entries(output.sources || {})) {
  for (const node of o.ast?.nodes || []) {
    if (node.nodeType === 'ContractDefinition' && node.contractKind === 'contract' && !node.abstract) {
      deployable.add(`${src}:${node.name}`);
    }
  }
}

const artifacts = {};
for (const [src, contracts] of Object.entries(output.contracts || {})) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!deployable.has(`${src}:${name}`)) continue;
    if (artifacts[name]) fail(`two deployable contracts named ${name}`);
    const bytecode = c.evm?.bytecode?.object || '';
    if (!bytecode) fail(`${name} has no bytecode`);
    if (bytecode.includes('__$')) fail(`${name} needs library linking, which is not supported`);
    artifacts[name] = { abi: c.abi, bytecode: `0x${bytecode}`, methodIdentifiers: c.evm.methodIdentifiers || {} };
  }
}

// ---- wire-compat checks ----
const problems = [];
const canonicalType = (p) => {
  if (p.type.startsWith('tuple')) return `(${p.components.map(canonicalType).join(',')})${p.type.slice(5)}`;
  return p.type;
};
for (const [contract, events] of Object.entries(EXPECTED_TOPICS)) {
  const a = artifacts[contract];
  if (!a) {
    problems.push(`missing contract ${contract}`);
    continue;
  }
  const have = new Map(
    a.abi
      .filter((x) => x.type === 'event')
      .map((ev) => [`${ev.name}(${ev.inputs.map(canonicalType).join(',')})`, ev]),
  );
  for (const [sig, topic] of Object.entries(events)) {
    if (!have.has(sig)) {
      problems.push(`${contract}: event ${sig} missing`);
      continue;
    }
    const t = `0x${keccak256(sig)}`;
    if (topic && t !== topic) problems.push(`${contract}: topic of ${sig} is ${t}, expected ${topic}`);
  }
}
for (const [contract, sels] of Object.entries(EXPECTED_SELECTORS)) {
  const a = artifacts[contract];
  if (!a) continue;
  for (const [sig, sel] of Object.entries(sels)) {
    const got = a.methodIdentifiers[sig];
    if (got !== sel) problems.push(`${contract}: selector of ${sig} is ${got ?? 'missing'}, expected 0x${sel}`);
  }
}
// the indexed flags matter for log decoding
const indexedCheck = {
  Jobs: { JobCreated: [true, true, true, false, false, false, false], JobResponded: [true, true, false, false, false, false] },
  Executors: { ExecutorRegistered: [true, true, false, false] },
};
for (const [contract, evs] of Object.entries(indexedCheck)) {
  for (const [name, flags] of Object.entries(evs)) {
    const ev = artifacts[contract]?.abi.find((x) => x.type === 'event' && x.name === name);
    const got = ev?.inputs.map((i) => !!i.indexed);
    if (JSON.stringify(got) !== JSON.stringify(flags)) problems.push(`${contract}.${name}: indexed flags ${JSON.stringify(got)}`);
  }
}
if (problems.length) {
  for (const p of problems) console.error(`compile: MISMATCH: ${p}`);
  fail('contracts do not match the protocol reference; nothing written');
}

// ---- write (atomically per file), drop stale artifacts of the previous build ----
fs.mkdirSync(OUT_DIR, { recursive: true });
const names = Object.keys(artifacts).sort();
for (const n of names) {
  const file = path.join(OUT_DIR, `${n}.json`);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify({ abi: artifacts[n].abi, bytecode: artifacts[n].bytecode }, null, 2)}\n`);
  fs.renameSync(tmp, file);
}
for (const old of previous?.contracts || []) {
  if (!artifacts[old]) fs.rmSync(path.join(OUT_DIR, `${old}.json`), { force: true });
}
writeSignatureCache(artifacts, keccak256);
fs.writeFileSync(STAMP, `${JSON.stringify({ hash, solc: solc.version(), contracts: names })}\n`);
log(`compiled ${names.length} contracts with solc ${solc.version()} in ${Date.now() - t0} ms: ${names.join(', ')}`);
