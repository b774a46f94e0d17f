import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeIni, writeIni } from '../../../src/render/ini.ts';

test('values are written verbatim, even with # ; = and spaces', () => {
  const out = writeIni({
    database: { connection: 'mysql+pymysql://nova:p#a;s=s@db:3306/nova?charset=utf8mb4' },
  });
  assert.equal(
    out,
    '[database]\nconnection = mysql+pymysql://nova:p#a;s=s@db:3306/nova?charset=utf8mb4\n',
  );
});

test('a list repeats the key; booleans are true/false; empty values stay empty', () => {
  const out = writeIni({ DEFAULT: { debug: true, log_file: '', x: ['a', 'b'] } });
  assert.equal(out, '[DEFAULT]\ndebug = true\nlog_file =\nx = a\nx = b\n');
});

test('DEFAULT comes first, other sections and keys sorted', () => {
  const out = writeIni({ zeta: { b: 1, a: 2 }, alpha: { k: 'v' }, DEFAULT: { z: 1 } });
  assert.equal(out, '[DEFAULT]\nz = 1\n\n[alpha]\nk = v\n\n[zeta]\na = 2\nb = 1\n');
});

test('later layers override earlier ones key by key and keep the rest', () => {
  const merged = mergeIni(
    { DEFAULT: { debug: false, state_path: '/var/lib/nova' }, api: { a: 1 } },
    { DEFAULT: { debug: true } },
    undefined,
    { scheduler: { max_attempts: 5 } },
  );
  assert.deepEqual(merged, {
    DEFAULT: { debug: true, state_path: '/var/lib/nova' },
    api: { a: 1 },
    scheduler: { max_attempts: 5 },
  });
});

test('a value that spans lines is refused', () => {
  assert.throws(() => writeIni({ s: { k: 'a\nb' } }), /cannot span lines/);
});

test("MariaDB's option files: key=value in the order given", () => {
  const out = writeIni(
    { client: { user: 'root', password: 'p=w', host: 'db', port: 3306 } },
    { assign: '=', sortKeys: false },
  );
  assert.equal(out, '[client]\nuser=root\npassword=p=w\nhost=db\nport=3306\n');
});
