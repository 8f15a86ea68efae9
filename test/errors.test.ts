import { expect, test } from 'vitest';
import * as library from '../src/index.js';
import { SessionError } from '../src/index.js';

/** Every error class the package exports, by its exported name. */
const errorClasses = Object.entries(library).filter(
  (entry): entry is [string, typeof SessionError] => typeof entry[1] === 'function' && (entry[1] === SessionError || entry[1].prototype instanceof SessionError),
);

test('the package exports its fifteen error classes', () => {
  expect(errorClasses).toHaveLength(15);
});

// Another copy of the package (a bundler's, or the CommonJS build beside the ESM one) has classes of its own;
// what they share is the registered symbol each class's prototype names itself under, with a literal that a
// minifier leaves alone. An instance made by another copy is an object whose prototype chain carries those names.
const BRAND = Symbol.for('trpc-session.error-class');
const otherCopyBase = Object.create(Error.prototype, { [BRAND]: { value: 'SessionError' } }) as object;
/** An instance of the class named `name`, as another copy of the package makes it. */
function madeByAnotherCopy(name: string): object {
  return Object.create(name === 'SessionError' ? otherCopyBase : Object.create(otherCopyBase, { [BRAND]: { value: name } }));
}

test.each(errorClasses)('%s recognises an instance made by another copy of the package, and no other class\'s', (name, errorClass) => {
  expect(madeByAnotherCopy(name) instanceof errorClass).toBe(true);
  const otherName = name === 'SessionGoneError' ? 'SessionConflictError' : 'SessionGoneError';
  expect(madeByAnotherCopy(otherName) instanceof errorClass).toBe(name === 'SessionError');
});
