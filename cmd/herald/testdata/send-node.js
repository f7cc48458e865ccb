// Sends one exception with the official JavaScript SDK (@sentry/node) to the
// DSN in SENTRY_DSN and prints the event id the SDK assigned.
const Sentry = require("@sentry/node");
Sentry.init({ dsn: process.env.SENTRY_DSN, environment: "production", release: "v1.2.3", tracesSampleRate: 0 });
try {
  null.id;
} catch (e) {
  console.log(Sentry.captureException(e));
}
Sentry.flush(10000).then((ok) => process.exit(ok ? 0 : 1));
