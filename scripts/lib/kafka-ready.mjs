#!/usr/bin/env node
// Readiness check for the local Kafka broker: succeeds once the broker answers
// a Metadata request (kafkajs admin.describeCluster()) with at least one
// broker, which is what the services' clients will do first. An open TCP port
// alone is not enough evidence for us; a real protocol round trip is.
//
//   node scripts/lib/kafka-ready.mjs --brokers 127.0.0.1:19092 [--timeout 90] [--pid 1234]
//
// --pid: give up at once when that process (the broker JVM) has died, instead
// of waiting for the deadline. Exit 0 when ready, 1 otherwise (with the reason
// on stderr). Uses the kafkajs the workspace already depends on.
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';

const { values } = parseArgs({
  options: {
    brokers: { type: 'string', default: '127.0.0.1:19092' },
    timeout: { type: 'string', default: '90' },
    pid: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});

const brokers = values.brokers.split(',');
const deadline = Date.now() + Number(values.timeout) * 1000;
const pid = values.pid ? Number(values.pid) : undefined;

function processAlive(p) {
  try {
    process.kill(p, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

const kafka = new Kafka({
  clientId: 'shop-infra-ready',
  brokers,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 3000,
  // One attempt per loop iteration: the loop below is the retry policy.
  retry: { retries: 0 },
});

let lastError = 'no attempt yet';
for (;;) {
  if (pid !== undefined && !processAlive(pid)) {
    console.error(`kafka-ready: broker process ${pid} exited`);
    process.exit(1);
  }
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length > 0) {
      await admin.disconnect();
      if (!values.quiet) {
        const list = cluster.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).join(', ');
        console.log(
          `kafka-ready: cluster ${cluster.clusterId}, controller ${cluster.controller}, brokers ${list}`,
        );
      }
      process.exit(0);
    }
    lastError = 'metadata response listed no brokers';
  } catch (err) {
    lastError = err instanceof Error ? err.message : String(err);
  }
  await admin.disconnect().catch(() => {});
  if (Date.now() > deadline) {
    console.error(
      `kafka-ready: no metadata from ${brokers.join(',')} within ${values.timeout}s (last error: ${lastError})`,
    );
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 250));
}
