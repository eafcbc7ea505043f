/**
 * The server's command line as its users meet it: the settings file beside a double-clicked
 * server, two servers on one machine, the stats signal. Run with the permissions that the
 * tasks and the compiled programs have, so that what they lack shows here.
 */
import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { PROGRAMS } from "../../scripts/programs.ts";
import { freePort } from "../support/client_process.ts";
import { SERVER_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { TestCertificateAuthority, writePemPair } from "../support/test_certificates.ts";
import { connect as tlsConnect } from "node:tls";
import { WebSocketTestClient } from "../support/websocket_test_client.ts";

const SERVER = PROGRAMS.find((program) => program.name === "server")!;
const LAUNCHER = [
  Deno.execPath(),
  "run",
  "--no-prompt",
  ...SERVER.permissions("linux"),
  SERVER_SCRIPT,
];

/** A folder of its own, with `chat-server.toml` holding `settings` if given. */
function folder(settings?: string): string & Disposable {
  const path = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "server-cli-" }));
  if (settings !== undefined) Deno.writeTextFileSync(`${path}/chat-server.toml`, settings);
  return Object.assign(path, {
    [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }),
  });
}

/** The server started in `cwd`, as a double-click starts it in its own folder. */
function startIn(cwd: string, args: string[] = []): Promise<ServerProcess> {
  return ServerProcess.start(args, LAUNCHER, { cwd });
}

Deno.test("server cli - reads chat-server.toml from the folder it starts in, and says so", async () => {
  using dir = folder('log-format = "json"\nmax-connections = 1\n');
  await using server = await startIn(dir);
  const settings = JSON.parse(server.stdout.lines[0]);
  assert.equal(settings.message, `settings from ${dir}/chat-server.toml`);
  await using _first = await TestClient.connect(server.port);
  await using second = await TestClient.connect(server.port, false);
  assert.equal((await second.next("error")).code, ErrorCode.SERVER_FULL);
});

Deno.test("server cli - the command line overrides the file", async () => {
  using dir = folder('log-format = "json"\nmax-connections = 1\n');
  await using server = await startIn(dir, ["--max-connections", "2"]);
  await using _first = await TestClient.connect(server.port);
  await using second = await TestClient.connect(server.port);
  assert.equal(second.welcome.online, 2);
  // What the command line left alone still comes from the file.
  assert.equal(JSON.parse(server.stdout.lines[0]).event, "settings");
});

Deno.test("server cli - with --workers, every worker serves with the file's settings", async () => {
  using dir = folder('workers = 2\nmax-content-bytes = 10\nlog-format = "json"\n');
  await using server = await startIn(dir);
  assert.equal(JSON.parse(await server.stdout.waitFor(/"event":"listening"/)).workers, 2);
  await using stack = new AsyncDisposableStack();
  // The kernel shares connections out between the workers: 20 reach both, but for 1 in 500,000.
  const workers = new Set<number>();
  let line = -1;
  for (let i = 0; i < 20; i++) {
    const client = stack.use(await TestClient.connect(server.port));
    assert.equal(client.welcome.maxContentBytes, 10);
    const connect = await server.stdout.waitFor(/"event":"connect"/, 10_000, line + 1);
    line = server.stdout.lines.indexOf(connect, line + 1);
    workers.add(JSON.parse(connect).worker);
  }
  assert.deepEqual(workers, new Set([1, 2]));
});

Deno.test("server cli - a list option takes a TOML array or a comma-separated string", async () => {
  for (
    const origins of [
      '["https://a.example", "https://b.example"]',
      '"https://a.example,https://b.example"',
    ]
  ) {
    using dir = folder(`allowed-origins = ${origins}\n`);
    const httpPort = freePort();
    await using _server = await startIn(dir, ["--http-port", String(httpPort)]);
    await using _allowed = await WebSocketTestClient.connect(httpPort, "https://b.example");
    await assert.rejects(WebSocketTestClient.connect(httpPort, "http://localhost:3000"));
  }
});

Deno.test("server cli - a bad settings file is one line naming the file and the key, and exit code 2", async () => {
  const cases: [settings: string, stderr: RegExp][] = [
    [
      "prot = 9000\n",
      /: unknown setting "prot"; the settings are the long options of server --help/,
    ],
    ['port = "abc"\n', /: port = "abc" is invalid\. Expected a port number from 0 to 65535\.$/],
    ["max-connections = -1\n", /: max-connections = -1 is invalid\. Expected a whole number/],
    ['log-format = "xml"\n', /: log-format = "xml" is invalid\. Allowed choices are text, json\.$/],
    ['quiet = "yes"\n', /: quiet must be true or false, not "yes"$/],
    ["port = [9000]\n", /: port must be a string or a number, not \[9000\]$/],
    [
      "allowed-origins = [1]\n",
      /: allowed-origins must be a string or a list of strings, not \[1\]/,
    ],
    ["port = 9000\nhost = = 1\n", /: line 2, column 8: invalid value$/],
    ["config = 'other.toml'\n", /: unknown setting "config"/],
    // Past 2^31 - 1 ms, Deno's timers fire at once: a stats line a millisecond.
    [
      "stats-interval = 2147484\n",
      /: stats-interval = 2147484 is invalid\. Expected a number of seconds from 0 to 2147483 \(24 days\)/,
    ],
    [
      "idle-timeout = 2147483.5\n",
      /is invalid\. Expected a number of seconds above 0, up to 2147483 \(24 days\)/,
    ],
    // 0 would refuse everyone.
    [
      "max-connections = 0\n",
      /: max-connections = 0 is invalid\. Expected a whole number of at least 1\.$/,
    ],
    [
      "max-connections-per-ip = 0\n",
      /: max-connections-per-ip = 0 is invalid\. Expected a whole number of at least 1\.$/,
    ],
    ["port = inf\n", /: port must be a finite number, not inf$/],
    ["port = nan\n", /: port must be a finite number, not nan$/],
    ["port = 1e400\n", /: port must be a finite number, not inf$/],
    // Numbers as the command line gives them, not 1e+21.
    ["port = 1e21\n", /: port = 1000000000000000000000 is invalid\. Expected a port number/],
    // What the file says reaches the terminal as visible symbols, never as control characters.
    ['"\\u001b]0;PWNED\\u0007key" = 1\n', /: unknown setting "\u241b\]0;PWNED\u2407key"/],
    ['allowed-origins = "\\u009b2J"\n', /"\ufffd2J" is not an origin/],
    // A long value is cut short, once.
    [
      `port = "${"9".repeat(100_000)}"\n`,
      new RegExp(`: port = "${"9".repeat(60)}…" is invalid\\.`),
    ],
    [
      `host = "${"a".repeat(300)}"\n`,
      /: host = "a{60}…" is invalid\. Expected a host name or IP address/,
    ],
  ];
  for (const [settings, stderr] of cases) {
    using dir = folder(settings);
    const run = await ServerProcess.run([], LAUNCHER, { cwd: dir });
    assert.equal(run.code, 2, `for ${settings}: ${run.stderr}`);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.ok(lines[0].length < 300, "short");
    // deno-lint-ignore no-control-regex -- no control character may reach the terminal
    assert.doesNotMatch(lines[0], /[\u001b\u0007\u009b]/);
    assert.ok(lines[0].startsWith(`error: ${dir}/chat-server.toml: `), run.stderr);
    assert.match(lines[0], stderr);
    assert.equal(run.stdout, "", "it never started");
  }
});

Deno.test("server cli - options that cannot go together are one line and exit code 2, from the flags or the file", async () => {
  const cases: [args: string[], settings: string, stderr: string][] = [
    [
      ["--port", "9000", "--http-port", "9000"],
      "",
      "error: --port and --http-port are both 9000; give them different ports\n",
    ],
    [
      [],
      "port = 9000\nhttp-port = 9000\n",
      "error: --port and --http-port are both 9000; give them different ports\n",
    ],
    [
      ["--max-frame-bytes", "4123"],
      "",
      "error: --max-frame-bytes 4123 is too small for a chat message of --max-content-bytes 4096; " +
      "it must be at least 4124\n",
    ],
    [
      [],
      "max-content-bytes = 65536\n",
      "error: --max-frame-bytes 65536 is too small for a chat message of --max-content-bytes 65536; " +
      "it must be at least 65566\n",
    ],
  ];
  for (const [args, settings, stderr] of cases) {
    using dir = folder(settings);
    const run = await ServerProcess.run(args, LAUNCHER, { cwd: dir });
    assert.deepEqual(
      [run.code, run.stderr, run.stdout],
      [2, stderr, ""],
      `for ${args} ${settings}`,
    );
  }
  // The smallest frame for the content is enough.
  await using _server = await ServerProcess.start(["--max-frame-bytes", "4124"], LAUNCHER);
});

Deno.test("server cli - numbers in the file are taken as the same numbers on the command line", async () => {
  using dir = folder();
  const written = await ServerProcess.run(
    ["--write-config", "--rate-limit", "0.0000001"],
    LAUNCHER,
    { cwd: dir },
  );
  assert.equal(written.code, 0, written.stderr);
  assert.match(Deno.readTextFileSync(`${dir}/chat-server.toml`), /^rate-limit = 1e-7$/m);
  await using _read = await startIn(dir);
  Deno.writeTextFileSync(`${dir}/chat-server.toml`, "rate-limit = 1e21\n");
  await using _large = await startIn(dir);
});

Deno.test("server cli - a settings file that is no regular file, or too large, is one line and exit code 2", async () => {
  using dir = folder();
  const zero = await ServerProcess.run(["--config", "/dev/zero"], LAUNCHER, { cwd: dir });
  assert.deepEqual(
    [zero.code, zero.stderr],
    [2, "error: The settings file /dev/zero is not a regular file\n"],
  );
  // A FIFO would wait for a writer forever.
  const mkfifo = new Deno.Command("mkfifo", { args: [`${dir}/chat-server.toml`] });
  assert.equal((await mkfifo.output()).code, 0);
  const fifo = await ServerProcess.run([], LAUNCHER, { cwd: dir });
  assert.deepEqual(
    [fifo.code, fifo.stderr],
    [2, "error: The settings file chat-server.toml is not a regular file\n"],
  );
  Deno.removeSync(`${dir}/chat-server.toml`);
  Deno.writeTextFileSync(`${dir}/chat-server.toml`, `# ${"x".repeat(1024 * 1024)}\n`);
  const large = await ServerProcess.run([], LAUNCHER, { cwd: dir });
  assert.deepEqual(
    [large.code, large.stderr],
    [2, "error: The settings file chat-server.toml is larger than 1 MiB\n"],
  );
});

Deno.test("server cli - --write-config onto a dangling symbolic link is one line and exit code 2", async () => {
  using dir = folder();
  Deno.symlinkSync(`${dir}/nowhere.toml`, `${dir}/dangling.toml`);
  const run = await ServerProcess.run(["--write-config", "--config", "dangling.toml"], LAUNCHER, {
    cwd: dir,
  });
  assert.deepEqual([run.code, run.stderr], [
    2,
    "error: dangling.toml already exists; not overwriting it " +
    "(remove it, or name another file with --config)\n",
  ]);
});

Deno.test("server cli - a port in use from the settings file: the hint names the file's key", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using dir = folder(`host = "127.0.0.1"\nport = ${taken.addr.port}\nhttp-port = 0\n`);
  const run = await ServerProcess.run([], LAUNCHER, { cwd: dir });
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr,
    `Cannot listen on 127.0.0.1:${taken.addr.port} (TCP, for chat clients): address already in use. ` +
      `Another server is probably running; pick another port with --port ` +
      `(or port in ${dir}/chat-server.toml)\n`,
  );
});

Deno.test("server cli - --config names another file, which must be there", async () => {
  using dir = folder();
  Deno.writeTextFileSync(`${dir}/other.toml`, 'log-format = "json"\n');
  await using server = await startIn(dir, ["--config", "other.toml"]);
  assert.equal(JSON.parse(server.stdout.lines[0]).file, `${dir}/other.toml`);

  const missing = await ServerProcess.run(["--config", "gone.toml"], LAUNCHER, { cwd: dir });
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, "error: Cannot read the settings file gone.toml: no such file\n");
});

Deno.test("server cli - --write-config writes every setting commented out at its default; the file starts a server", async () => {
  using dir = folder();
  const written = await ServerProcess.run(["--write-config"], LAUNCHER, { cwd: dir });
  assert.equal(written.code, 0, written.stderr);
  assert.match(
    written.stdout,
    new RegExp(
      `^wrote ${dir}/chat-server\\.toml: \\d+ settings, each commented out at its default\\n$`,
    ),
  );
  const text = Deno.readTextFileSync(`${dir}/chat-server.toml`);
  assert.deepEqual({ ...parse(text) }, {}, "everything commented out");
  // Each option of --help is there, under its help text.
  const help = await ServerProcess.run(["--help"], LAUNCHER);
  const options = [...help.stdout.matchAll(/^ +(?:-\w, )?--([a-z-]+)/gm)].map((match) => match[1])
    .filter((name) => !["help", "version", "config", "write-config"].includes(name));
  assert.equal(options.length, 41);
  for (const name of options) assert.match(text, new RegExp(`^# ${name} = `, "m"));
  assert.match(text, /^# TCP port \(0 picks a free one\)\n# port = 8080$/m);

  // Every default uncommented (all but those with none) is a file the server takes.
  Deno.writeTextFileSync(
    `${dir}/chat-server.toml`,
    text.replace(/^# ([a-z-]+ = (?!"<|\["<))/gm, "$1"),
  );
  assert.equal(Object.keys(parse(Deno.readTextFileSync(`${dir}/chat-server.toml`))).length, 35);
  await using server = await startIn(dir);
  assert.equal(server.stdout.lines[0].endsWith(`settings from ${dir}/chat-server.toml`), true);
  await using _client = await TestClient.connect(server.port);

  const again = await ServerProcess.run(["--write-config"], LAUNCHER, { cwd: dir });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /^error: .*chat-server\.toml already exists; not overwriting it/);
  assert.equal(Deno.readTextFileSync(`${dir}/chat-server.toml`).includes("\nport = 8080"), true);
});

Deno.test("server cli - --write-config sets the options given with it", async () => {
  using dir = folder();
  const written = await ServerProcess.run(
    [
      "--write-config",
      "--config",
      "mine.toml",
      "--port",
      "9000",
      "--allowed-origins",
      "https://a.example",
    ],
    LAUNCHER,
    { cwd: dir },
  );
  assert.equal(written.code, 0, written.stderr);
  assert.match(written.stdout, /mine\.toml: \d+ settings, port, allowed-origins as given/);
  assert.deepEqual({ ...parse(Deno.readTextFileSync(`${dir}/mine.toml`)) }, {
    port: 9000,
    "allowed-origins": ["https://a.example"],
  });
});

Deno.test("server cli - an HTTP port in use: one line that names it and how to move it, nothing logged", async () => {
  const httpPort = freePort();
  await using _first = await ServerProcess.start(["--http-port", String(httpPort)]);
  const second = await ServerProcess.run(
    ["--host", "127.0.0.1", "--port", "0", "--http-port", String(httpPort)],
    LAUNCHER,
  );
  assert.equal(second.code, 1);
  assert.equal(
    second.stderr,
    `Cannot listen on 127.0.0.1:${httpPort} (HTTP, for the browser page): address already in use. ` +
      "Another server is probably running; pick another port with --http-port, " +
      "or turn HTTP off with --http-port 0\n",
  );
  // Its chat port was open for a moment: neither "listening" nor "stopped" for it.
  assert.equal(second.stdout, "");
});

Deno.test("server cli - a permission the server lacks is one line, not a prompt", async () => {
  const run = await ServerProcess.run(
    ["--host", "127.0.0.1", "--port", "0"],
    [Deno.execPath(), "run", "--no-prompt", SERVER_SCRIPT],
  );
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    /^Cannot listen on 127\.0\.0\.1:0 \(TCP, for chat clients\): Requires net access to "127\.0\.0\.1:0"[^\n]*\n$/,
  );
});

Deno.test("server cli - SIGUSR2 logs the counters and opens no port (SIGUSR1 would open the inspector)", async () => {
  const inspectorRefused = () =>
    assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port: 9229 }),
      Deno.errors.ConnectionRefused,
    );
  await inspectorRefused();
  await using server = await ServerProcess.start([], LAUNCHER);
  await using _client = await TestClient.connect(server.port);
  const from = server.stdout.lines.length;
  server.process.kill("SIGUSR2");
  await server.stdout.waitFor(
    / stats: 1 session, \d+ frames in, \d+ out, rss [\d.]+ MiB$/,
    10_000,
    from,
  );
  await inspectorRefused();
  // Still serving.
  await using _other = await TestClient.connect(server.port);
});

Deno.test("server cli - SIGUSR2 while the server is starting is ignored, not fatal", async () => {
  // A Redis that never answers holds the start-up, before any port opens.
  using redis = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = new Deno.Command(LAUNCHER[0], {
    args: [
      ...LAUNCHER.slice(1),
      ...["--port", "0", "--http-port", "0", "--redis", `redis://127.0.0.1:${redis.addr.port}`],
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const connection = await redis.accept();
  server.kill("SIGUSR2");
  connection.close();
  // It goes on to find Redis gone, rather than die of the signal (exit code 140).
  const { code, stderr } = await server.output();
  assert.equal(code, 1);
  assert.match(new TextDecoder().decode(stderr), /^Cannot connect to Redis at /);
});

Deno.test("server cli - certificate files that cannot serve TLS are one line each, and exit 2", async () => {
  using dir = folder();
  const ca = await TestCertificateAuthority.create();
  const pair = writePemPair(dir, await ca.issue());
  const other = await ca.issue();
  Deno.writeTextFileSync(`${dir}/other-key.pem`, other.key);
  Deno.writeTextFileSync(`${dir}/junk.pem`, "not a certificate\n");
  const cases: [string[], RegExp][] = [
    [
      ["--tls-cert", `${dir}/gone.pem`, "--tls-key", pair.key],
      /^error: Cannot read --tls-cert \S+gone\.pem: No such file or directory[^\n]*\n$/,
    ],
    [
      ["--tls-cert", `${dir}/junk.pem`, "--tls-key", pair.key],
      /^error: --tls-cert \S+junk\.pem holds no PEM certificate\n$/,
    ],
    [
      ["--tls-cert", pair.cert, "--tls-key", `${dir}/junk.pem`],
      /^error: --tls-key \S+junk\.pem holds no usable PEM private key\n$/,
    ],
    [
      ["--tls-cert", pair.cert, "--tls-key", `${dir}/other-key.pem`],
      /^error: --tls-key \S+other-key\.pem is not the key of the certificate in --tls-cert \S+cert\.pem\n$/,
    ],
    [["--tls-cert", pair.cert], /^error: --tls-cert and --tls-key go together; give both\n$/],
    [
      ["--tls-self-signed", "--tls-cert", pair.cert, "--tls-key", pair.key],
      /^error: --tls-self-signed makes its own certificate; give it or --tls-cert and --tls-key, not both\n$/,
    ],
    [
      ["--tls-name", "chat.example.com"],
      /^error: --tls-name names the certificate of --tls-self-signed; give that too\n$/,
    ],
  ];
  for (const [args, expected] of cases) {
    const run = await ServerProcess.run(["--port", "0", "--http-port", "0", ...args], LAUNCHER, {
      cwd: dir,
    });
    assert.equal(run.code, 2, `for ${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, expected);
    assert.equal(run.stdout, "");
  }
});

Deno.test("server cli - an expired certificate is served, with a warning", async () => {
  using dir = folder();
  const ca = await TestCertificateAuthority.create();
  const pair = writePemPair(
    dir,
    await ca.issue({
      notBefore: new Date(Date.now() - 3 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    }),
  );
  await using server = await startIn(dir, ["--tls-cert", pair.cert, "--tls-key", pair.key]);
  assert.match(
    server.stdout.text,
    /WARN the certificate in --tls-cert expired on \S+; clients will refuse it/,
  );
});

/** The SHA-256 fingerprint of the certificate the server at `port` presents, unverified. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on("error", reject);
  });
}

Deno.test("server cli - --tls-self-signed prints the fingerprint it serves, and keeps it across restarts", async () => {
  using dir = folder();
  const args = [
    ...["--data-dir", "chat-data", "--tls-self-signed"],
    ...["--tls-name", "chat.example.com,chat.example.org"],
  ];
  let fingerprint: string;
  {
    await using server = await startIn(dir, args);
    const line = await server.stdout.waitFor("SHA-256 fingerprint");
    fingerprint = /fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2});/.exec(line)![1];
    assert.ok(line.endsWith(`clients connect with --fingerprint ${fingerprint}`));
    assert.match(
      server.stdout.text,
      /made a self-signed certificate and kept it in .* \(none was kept\)/,
    );
    assert.equal(await servedFingerprint(server.port), fingerprint);
    assert.equal((await server.stop()).code, 0);
  }
  const kept = Deno.statSync(`${dir}/chat-data/tls-self-signed.pem`);
  assert.equal(kept.mode! & 0o777, 0o600);
  {
    await using server = await startIn(dir, args);
    assert.ok(server.stdout.text.includes(`SHA-256 fingerprint ${fingerprint}`));
    assert.ok(!server.stdout.text.includes("made a self-signed"));
    assert.equal(await servedFingerprint(server.port), fingerprint);
  }
  // A name the kept one lacks: a new one, and it says why.
  await using server = await startIn(dir, [
    ...["--data-dir", "chat-data", "--tls-self-signed", "--tls-name", "other.example"],
  ]);
  assert.match(
    server.stdout.text,
    /made a self-signed certificate and kept it in .* \(the kept one does not name other\.example\)/,
  );
  assert.ok(!server.stdout.text.includes(fingerprint));
});
