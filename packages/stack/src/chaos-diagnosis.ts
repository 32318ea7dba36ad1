// What each service says about itself when a chaos run fails: its readiness (a consumer
// that crashed or stalled shows here) and the warnings and errors of its log, grouped.
// A failed run in CI leaves only its printed report, so this is what makes it explainable.
import { readFileSync } from 'node:fs';
import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';

export interface ServiceDiagnosis {
  name: string;
  /** "ready", "not-ready: <failed checks>", or why it did not answer. */
  readiness: string;
  /** The most frequent warning and error messages, with their count and last time. */
  problems: { level: string; msg: string; count: number; last: string; error?: string }[];
}

/** Groups a pino log's warn/error/fatal lines by level and message; most frequent first. */
export function logProblems(log: string, limit = 6): ServiceDiagnosis['problems'] {
  const groups = new Map<string, ServiceDiagnosis['problems'][number]>();
  for (const line of log.split('\n')) {
    if (
      !line.includes('"level":"warn"') &&
      !line.includes('"level":"error"') &&
      !line.includes('"level":"fatal"')
    )
      continue;
    let entry: { level?: string; msg?: string; time?: string; err?: { message?: string }; error?: unknown };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const level = entry.level ?? '?';
    const msg = (entry.msg ?? '').slice(0, 120);
    const key = `${level}\u0000${msg}`;
    const error = entry.err?.message ?? (typeof entry.error === 'string' ? entry.error : undefined);
    const group = groups.get(key) ?? { level, msg, count: 0, last: '' };
    group.count++;
    group.last = entry.time ?? group.last;
    if (error) group.error = error.slice(0, 160);
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count).slice(0, limit);
}

async function readiness(url: string): Promise<string> {
  try {
    const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(3000) });
    const report = (await response.json()) as {
      status?: string;
      checks?: Record<string, { status?: string; error?: string }>;
    };
    const down = Object.entries(report.checks ?? {})
      .filter(([, check]) => check.status === 'down')
      .map(([name, check]) => `${name}: ${check.error ?? 'down'}`);
    return down.length > 0 ? `${report.status}: ${down.join('; ')}` : String(report.status);
  } catch (error) {
    return `no answer (${(error as Error).message})`;
  }
}

export async function diagnoseServices(
  services: readonly { name: string; url: string; logFile: string }[],
): Promise<ServiceDiagnosis[]> {
  return Promise.all(
    services.map(async ({ name, url, logFile }) => {
      let log = '';
      try {
        log = readFileSync(logFile, 'utf8');
      } catch {
        // No log file: the problems list stays empty.
      }
      return { name, readiness: await readiness(url), problems: logProblems(log) };
    }),
  );
}

export function formatDiagnosis(diagnoses: readonly ServiceDiagnosis[]): string[] {
  return diagnoses.flatMap((d) => [
    `    ${d.name}: ${d.readiness}`,
    ...d.problems.map(
      (p) =>
        `      ${p.level} ×${p.count} (last ${p.last.slice(11, 23)}) ${p.msg}${p.error ? ` — ${p.error}` : ''}`,
    ),
  ]);
}

export interface GroupDiagnosis {
  groupId: string;
  state: string;
  /** Each member's client id and the partitions it was given, "topic[0,1]". */
  members: { clientId: string; partitions: string[] }[];
  /** Messages not yet committed by the group, per topic it has offsets or partitions on. */
  lag: Record<string, number>;
}

/**
 * Every consumer group on the broker: its state, who holds which partitions, and its lag on the
 * run's topics. A group that is Stable with a member but holds no partition, or one whose lag does
 * not shrink, is a consumer that looks alive and handles nothing.
 */
export async function describeConsumerGroups(
  brokers: string[],
  topicPrefix: string,
  /** Which groups to describe (the chaos broker is the run's own: all of them). */
  wanted: (groupId: string) => boolean = () => true,
): Promise<GroupDiagnosis[]> {
  const kafka = new Kafka({ brokers, clientId: 'chaos-diagnosis', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(topicPrefix));
    const high = new Map<string, number>();
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic))
        high.set(`${topic}:${p.partition}`, Number(p.high));
    }
    const { groups } = await admin.listGroups();
    const ids = groups
      .map((g) => g.groupId)
      .filter((id) => !id.startsWith('invariants-') && wanted(id))
      .sort();
    if (ids.length === 0) return [];
    const { groups: described } = await admin.describeGroups(ids);
    // Awaited here: the admin client is disconnected in `finally`.
    return await Promise.all(
      described.map(async (group) => {
        const members = group.members.map((member) => {
          const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
          return {
            clientId: member.clientId,
            partitions: Object.entries(decoded?.assignment ?? {}).map(
              ([topic, partitions]) => `${topic.slice(topicPrefix.length)}[${partitions.join(',')}]`,
            ),
          };
        });
        const lag: Record<string, number> = {};
        for (const { topic, partitions } of await admin.fetchOffsets({ groupId: group.groupId, topics })) {
          for (const { partition, offset } of partitions) {
            if (Number(offset) < 0) continue; // never committed: not this group's topic, or nothing handled
            const behind = (high.get(`${topic}:${partition}`) ?? 0) - Number(offset);
            const name = topic.slice(topicPrefix.length);
            lag[name] = (lag[name] ?? 0) + behind;
          }
        }
        return { groupId: group.groupId, state: group.state, members, lag };
      }),
    );
  } finally {
    await admin.disconnect();
  }
}

export function formatGroups(groups: readonly GroupDiagnosis[]): string[] {
  return groups.map((g) => {
    const members =
      g.members.length === 0
        ? 'no member'
        : g.members.map((m) => `${m.clientId}: ${m.partitions.join(' ') || 'no partition'}`).join('; ');
    const lag = Object.entries(g.lag)
      .filter(([, n]) => n > 0)
      .map(([topic, n]) => `${topic} ${n}`)
      .join(', ');
    return `    group ${g.groupId}: ${g.state}, ${members}; lag ${lag || '0'}`;
  });
}
