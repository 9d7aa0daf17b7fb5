// A flat TAP 13 reporter for `node --test`, for meson's TAP parser.
//
// Node's built-in `tap` reporter nests subtests and writes failure details as
// YAML blocks containing blank lines, which meson (1.0) reports as "Unknown
// TAP output lines". This one writes one `ok`/`not ok` line per test (nested
// tests are named "parent > child"; suites/describe blocks are not counted)
// and every detail as a `#` comment line.
//
//   node --test --test-reporter=/path/to/tap-reporter.mjs file.test.mjs

import { inspect } from 'node:util';

function comment(text) {
  return String(text).split('\n').map((l) => `# ${l}`.trimEnd()).join('\n') + '\n';
}

function describeError(err) {
  if (!err) return '';
  const inner = err.cause ?? err;
  let out = '';
  if (inner && typeof inner === 'object' && 'stack' in inner && inner.stack) out = String(inner.stack);
  else out = inspect(inner, { depth: 4, breakLength: 120 });
  if (err.failureType && err.failureType !== 'testCodeFailure') out = `(${err.failureType}) ${out}`;
  return out;
}

export default async function* tapReporter(source) {
  yield 'TAP version 13\n';
  let n = 0;
  const stack = []; // names by nesting level
  for await (const { type, data } of source) {
    switch (type) {
      case 'test:start':
        stack[data.nesting] = data.name;
        stack.length = data.nesting + 1;
        break;
      case 'test:pass':
      case 'test:fail': {
        if (data.details && data.details.type === 'suite') {
          if (type === 'test:fail' && data.details.error && data.details.error.failureType !== 'subtestsFailed') {
            // A hook or the suite body itself failed: report it as a test.
            n++;
            yield `not ok ${n} - ${data.name} (suite)\n` + comment(describeError(data.details.error));
          }
          break;
        }
        const names = stack.slice(0, data.nesting).filter(Boolean);
        const name = [...names, data.name].join(' > ').replace(/#/g, '\\#').replace(/\n/g, ' ');
        n++;
        const ms = data.details && typeof data.details.duration_ms === 'number' ? ` (${Math.round(data.details.duration_ms)} ms)` : '';
        if (data.skip) yield `ok ${n} - ${name} # SKIP${typeof data.skip === 'string' ? ' ' + data.skip : ''}\n`;
        else if (data.todo) yield `${type === 'test:pass' ? 'ok' : 'not ok'} ${n} - ${name} # TODO${typeof data.todo === 'string' ? ' ' + data.todo : ''}\n`;
        else if (type === 'test:pass') yield `ok ${n} - ${name}${ms}\n`;
        else {
          yield `not ok ${n} - ${name}${ms}\n`;
          if (data.file) yield comment(`at ${data.file}${data.line ? ':' + data.line : ''}`);
          yield comment(describeError(data.details && data.details.error));
        }
        break;
      }
      case 'test:diagnostic':
        yield comment(data.message);
        break;
      case 'test:stdout':
      case 'test:stderr':
        if (data.message) yield comment(data.message.replace(/\n$/, ''));
        break;
      default:
        break;
    }
  }
  yield `1..${n}\n`;
}
