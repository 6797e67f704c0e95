// parse.mjs FILE... parses each file as PowerShell with tree-sitter and exits 1 if any tree has an
// ERROR or missing node (printing file, position and the offending node), 2 on usage or read errors.
import { readFileSync } from 'node:fs';

// tree-sitter-powershell's package.json "main" lacks a file extension, which Node reports as a
// deprecation on every run; silence that before loading it.
process.noDeprecation = true;
const { default: Parser } = await import('tree-sitter');
const { default: PowerShell } = await import('tree-sitter-powershell');

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node parse.mjs FILE...');
  process.exit(2);
}

const parser = new Parser();
parser.setLanguage(PowerShell);

// bad returns the first ERROR or missing node of the tree rooted at node, or null. hasError is true
// for a node that is or contains an ERROR or missing node, so clean subtrees are skipped.
function bad(node) {
  if (node.type === 'ERROR' || node.isMissing) {
    return node;
  }
  if (!node.hasError) {
    return null;
  }
  for (const child of node.children) {
    const b = bad(child);
    if (b) return b;
  }
  return node;
}

let failed = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    console.error(`${file}: ${e.message}`);
    process.exit(2);
  }
  // Large scripts need a callback-based input for node-tree-sitter's 32 KiB string limit.
  const tree = parser.parse((index) => text.slice(index, index + 4096));
  const root = tree.rootNode;
  const n = bad(root);
  if (n) {
    failed++;
    const where = `${n.startPosition.row + 1}:${n.startPosition.column + 1}`;
    const kind = n.isMissing ? `missing ${n.type}` : n.type;
    const snippet = text.slice(n.startIndex, Math.min(n.endIndex, n.startIndex + 120));
    console.log(`${file}:${where}: ${kind}: ${JSON.stringify(snippet)}`);
    console.log(`  ${n.toString().slice(0, 400)}`);
  } else {
    console.log(`${file}: ok`);
  }
}
process.exit(failed ? 1 : 0);
