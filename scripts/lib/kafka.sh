# shellcheck shell=bash
# Apache Kafka for development and tests: one KRaft node in combined mode
# (broker + controller in one JVM), run from the broker jars on Maven Central
# (scripts/kafka/pom.xml), data in .run/kafka, loopback only.
#
#   kafka_fetch    make sure the jars of the pinned version are in the cache
#   kafka_up       fetch, write server.properties, format storage (first
#                  time), start, wait for a Metadata answer; no-op if running
#   kafka_down     stop the broker we started (SIGTERM = controlled shutdown)
#   kafka_status   one line: running or not, pid, address, data dir, log

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_SRC="$SHOP_ROOT/scripts/kafka"
KAFKA_POM="$KAFKA_SRC/pom.xml"
# The version is read from the POM (single source of truth, see why 3.9.x is
# pinned there).
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${SHOP_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${SHOP_KAFKA_CONTROLLER_PORT:-19093}"
# A third listener for the pods of the local cluster's real node
# (scripts/k8s/node.sh): bound on loopback like the others, but advertising the
# node's bridge address, where a relay forwards to it. Kafka clients reconnect to
# the address the broker advertises, so a plain relay to the client listener
# would send the pods to 127.0.0.1, their own loopback.
# 0: no such listener (a broker the real node never uses, as make chaos's own).
KAFKA_NODE_PORT="${SHOP_KAFKA_NODE_PORT:-19094}"
KAFKA_NODE_ADDRESS=$(awk -F'[./]' '{ printf "%d.%d.%d.%d", $1, $2, $3, $4 + 1 }' <<<"${SHOP_K8S_NODE_POD_CIDR:-10.250.0.0/24}")
KAFKA_LISTENERS="PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT"
KAFKA_ADVERTISED="PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT"
if [[ $KAFKA_NODE_PORT != 0 ]]; then
	KAFKA_LISTENERS+=",NODE://$KAFKA_HOST:$KAFKA_NODE_PORT"
	KAFKA_ADVERTISED+=",NODE://$KAFKA_NODE_ADDRESS:$KAFKA_NODE_PORT"
fi
# Jars are slow to get (about 46 MB, a minute or more from Central) and the
# same for every checkout: cache them outside the repo, keyed by version.
KAFKA_LIBS="$SHOP_CACHE_DIR/kafka/$KAFKA_VERSION/libs"
KAFKA_DIR="$SHOP_RUN_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONFIG="$KAFKA_DIR/server.properties"
KAFKA_LOG="$SHOP_LOG_DIR/kafka.log"
# Kafka shares a 2-core box with Postgres and six Node services, and dev/test
# traffic is tiny: a small heap, and the serial collector (no parallel GC
# threads competing for the two cores). Override with SHOP_KAFKA_HEAP_OPTS.
KAFKA_HEAP_OPTS="${SHOP_KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
# Extra JVM flags, e.g. SHOP_KAFKA_JVM_OPTS=-XX:TieredStopAtLevel=1 (C1 only:
# faster start, slower steady state).
KAFKA_JVM_OPTS="${SHOP_KAFKA_JVM_OPTS:-}"
# Class-data sharing (AppCDS) archive: loading and verifying Kafka's ~15k
# classes is most of its start-up time on 2 busy cores. The first start of a
# Kafka version on a given JVM records the classes it loaded and writes the
# archive when it shuts down (-XX:ArchiveClassesAtExit); later starts map it
# (-XX:SharedArchiveFile), which measured about twice as fast here (12-17 s
# -> 6-7 s under load). The official apache/kafka image does the same. The
# archive only matches the exact JVM build and the exact jars, so it is keyed
# by the JVM library and lives next to the jars it was made from; if it does
# not match anyway, the JVM warns and starts without it.
KAFKA_CDS_DIR="$SHOP_CACHE_DIR/kafka/$KAFKA_VERSION/cds"
KAFKA_CDS_TMP="$KAFKA_DIR/kafka.jsa.recording"

# The stamp in the libs directory records the POM it was fetched from, so a
# changed dependency list (same version) is fetched again.
kafka_libs_complete() {
	local want
	want=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
	[[ -f "$KAFKA_LIBS/.complete" && "$(<"$KAFKA_LIBS/.complete")" == "$want" ]]
}

kafka_fetch() {
	[[ -n "$KAFKA_VERSION" ]] || die "kafka: no <kafka.version> in $(rel "$KAFKA_POM")"
	kafka_libs_complete && return 0
	command -v mvn >/dev/null || die "kafka: mvn not found; run make install"

	local t0 tmp log="$SHOP_LOG_DIR/kafka-fetch.log"
	t0=$(now_ms)
	ensure_run_dirs
	mkdir -p "$(dirname "$KAFKA_LIBS")"
	# Copy into a temporary sibling and rename at the end, so an interrupted
	# fetch never leaves a half-filled libs/ that looks usable.
	tmp=$(mktemp -d "$(dirname "$KAFKA_LIBS")/libs.tmp.XXXXXX")
	local -a mvn_args=(-B -q -f "$KAFKA_POM" -Dstyle.color=never
		dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$tmp")
	# Offline first: if ~/.m2 already has every artifact (e.g. only .run or
	# this cache was wiped), this takes seconds and touches no network.
	if mvn -o "${mvn_args[@]}" >"$log" 2>&1; then
		log_info "kafka: copied the $KAFKA_VERSION jars from the local Maven repository"
	else
		log_info "kafka: downloading the Kafka $KAFKA_VERSION broker jars from Maven Central (once; cached in $KAFKA_LIBS)"
		if ! mvn "${mvn_args[@]}" >"$log" 2>&1; then
			rm -rf "$tmp"
			log_tail "$log"
			die "kafka: mvn dependency:copy-dependencies failed (full log: $(rel "$log"))"
		fi
	fi
	[[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || {
		rm -rf "$tmp"
		die "kafka: the fetch finished but kafka_2.13-$KAFKA_VERSION.jar is missing (see $(rel "$log"))"
	}
	sha256sum "$KAFKA_POM" | cut -d' ' -f1 >"$tmp/.complete"
	# New jars: any class-data archive made from the old ones is useless.
	rm -rf "$KAFKA_LIBS" "$KAFKA_CDS_DIR"
	mv "$tmp" "$KAFKA_LIBS"
	log_ok "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars ready in $(elapsed_since "$t0")"
}

# Rewritten on every start so that a changed port variable or a change here
# takes effect (the broker is stopped when this runs).
kafka_write_config() {
	mkdir -p "$KAFKA_DIR"
	cat >"$KAFKA_CONFIG" <<EOF
# Generated by scripts/lib/kafka.sh on every start; edit that file, not this one.

# --- KRaft combined mode, one node ------------------------------------------
process.roles=broker,controller
node.id=1
# Static quorum of one voter: storage is formatted without --standalone.
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER

# --- loopback only -----------------------------------------------------------
listeners=$KAFKA_LISTENERS
advertised.listeners=$KAFKA_ADVERTISED
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,NODE:PLAINTEXT
inter.broker.listener.name=PLAINTEXT

log.dirs=$KAFKA_DATA

# --- single node: every replication factor and ISR minimum is 1 ------------
# (the defaults of 3 make consumer groups and transactions fail with
# "coordinator not available" on one node)
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
num.partitions=1

# Topics are created explicitly by the services (and tests), as in
# production; a typo in a topic name must fail, not create a new topic.
# (It also avoids kafkajs's transient "does not host this topic-partition"
# on auto-created topics under KRaft.)
auto.create.topics.enable=false
# Tests create and delete many throwaway topics.
delete.topic.enable=true

# --- dev/test speed on a small box --------------------------------------------
# No 3 s wait before the first rebalance of every new consumer group.
group.initial.rebalance.delay.ms=0
# Internal topics with one partition load in a moment (defaults: 50).
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
# The log cleaner's dedupe buffer is 128 MiB of heap by default; 2 MiB is
# what Kafka's own test kit uses, and what fits a 512 MB heap.
log.cleaner.dedupe.buffer.size=2097152
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
# Keep a week of data at most, in small segments (dev data is disposable).
log.retention.hours=168
log.segment.bytes=67108864
EOF
}

# A KRaft log dir must be formatted once (it writes meta.properties with the
# cluster id); the broker refuses to start otherwise.
kafka_format() {
	[[ -f "$KAFKA_DATA/meta.properties" ]] && return 0
	local t0 cluster_id log="$SHOP_LOG_DIR/kafka-format.log"
	t0=$(now_ms)
	# A cluster id is 16 random bytes in URL-safe base64 without padding (22
	# characters), what `StorageTool random-uuid` prints; Node makes one
	# without starting a second JVM. Avoid a leading '-' as Kafka's own
	# generator does (it reads like a command-line flag).
	cluster_id=$(node -e "
		const { randomBytes } = require('node:crypto');
		let id;
		do { id = randomBytes(16).toString('base64url'); } while (id.startsWith('-'));
		process.stdout.write(id);")
	log_info "kafka: formatting storage $(rel "$KAFKA_DATA") (cluster id $cluster_id)"
	mkdir -p "$KAFKA_DATA"
	if ! java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		"-Dlog4j.configuration=file:$KAFKA_SRC/tools-log4j.properties" \
		-cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
		"--cluster-id=$cluster_id" -c "$KAFKA_CONFIG" --ignore-formatted >"$log" 2>&1; then
		log_tail "$log"
		die "kafka: formatting the storage failed"
	fi
	log_ok "kafka: storage formatted in $(elapsed_since "$t0")"
}

# The archive for this Kafka version and this JVM build (identified by the
# path, size and mtime of libjvm.so: cheap, unlike running `java -version`).
kafka_cds_archive() {
	local java libjvm key
	java=$(readlink -f "$(command -v java)")
	libjvm=$(dirname "$java")/../lib/server/libjvm.so
	key=$(stat -L -c '%n %s %Y' "$libjvm" 2>/dev/null || printf '%s' "$java")
	printf '%s/kafka-%s.jsa' "$KAFKA_CDS_DIR" "$(printf '%s' "$key" | sha256sum | cut -c1-12)"
}

# Our broker's command line contains the path of our server.properties, which
# is unique to this checkout: that is what makes a PID "ours".
# Falls back to looking for a broker started with our server.properties, so a
# broker of ours whose PID file was lost is found and adopted, not started
# twice (which would fail on the ports anyway).
kafka_running_pid() {
	pid_running kafka "$KAFKA_CONFIG" && return 0
	local pid
	for pid in $(pgrep -f 'kafka[.]Kafka' || true); do
		if pid_is_ours "$pid" "$KAFKA_CONFIG"; then
			log_warn "kafka: found our broker running (pid $pid) without a PID file; adopting it"
			mkdir -p "$SHOP_PID_DIR"
			printf '%s\n' "$pid" >"$(pid_file kafka)"
			printf '%s' "$pid"
			return 0
		fi
	done
	return 1
}

kafka_wait_ready() {
	local pid=$1 timeout=${2:-120}
	if ! node "$SHOP_ROOT/scripts/lib/kafka-ready.mjs" --quiet \
		--brokers "$KAFKA_HOST:$KAFKA_PORT" --timeout "$timeout" --pid "$pid"; then
		log_tail "$KAFKA_LOG" 60
		die "kafka: the broker did not answer a metadata request on $KAFKA_HOST:$KAFKA_PORT (log: $(rel "$KAFKA_LOG"))"
	fi
}

kafka_up() {
	local pid t0
	if pid=$(kafka_running_pid); then
		# Already running: make sure it listens where asked (the config it was
		# started with) and still answers.
		local want="listeners=$KAFKA_LISTENERS"
		if ! grep -qxF "$want" "$KAFKA_CONFIG"; then
			if grep -qxF "listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT" "$KAFKA_CONFIG"; then
				log_warn "kafka: running (pid $pid) without the real node's listener (NODE $KAFKA_NODE_PORT); make infra-down infra-up adds it"
			else
				die "kafka: already running (pid $pid) with $(grep '^listeners=' "$KAFKA_CONFIG"), not ports $KAFKA_PORT/$KAFKA_CONTROLLER_PORT/$KAFKA_NODE_PORT; to change SHOP_KAFKA_PORT, SHOP_KAFKA_CONTROLLER_PORT or SHOP_KAFKA_NODE_PORT, run make infra-down first"
			fi
		fi
		kafka_wait_ready "$pid" 30
		log_ok "kafka: already running (pid $pid) on $KAFKA_HOST:$KAFKA_PORT"
		return 0
	fi
	t0=$(now_ms)
	command -v java >/dev/null || die "kafka: java not found; run make install"
	[[ -d "$SHOP_ROOT/node_modules/kafkajs" ]] || die "kafka: node_modules/kafkajs missing (the readiness check needs it); run make install"
	ensure_run_dirs
	# Check the ports before anything slow, so a clash is reported at once.
	port_require_free "$KAFKA_PORT" "kafka (client listener)" SHOP_KAFKA_PORT
	port_require_free "$KAFKA_CONTROLLER_PORT" "kafka (controller listener)" SHOP_KAFKA_CONTROLLER_PORT
	if [[ $KAFKA_NODE_PORT != 0 ]]; then
		port_require_free "$KAFKA_NODE_PORT" "kafka (the real node's listener)" SHOP_KAFKA_NODE_PORT
	fi
	kafka_fetch
	kafka_write_config
	kafka_format

	local cds_archive cds_flag
	cds_archive=$(kafka_cds_archive)
	rm -f "$KAFKA_CDS_TMP" # left by a broker that was killed while recording
	if [[ -f "$cds_archive" ]]; then
		cds_flag="-XX:SharedArchiveFile=$cds_archive"
	else
		cds_flag="-XX:ArchiveClassesAtExit=$KAFKA_CDS_TMP"
		log_dim "kafka: first start of $KAFKA_VERSION on this JVM: recording a class-data archive (written at infra-down; makes later starts faster)"
	fi

	log_info "kafka: starting $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
	rotate_log "$KAFKA_LOG"
	printf '\n=== %s kafka %s starting (scripts/lib/kafka.sh) ===\n' "$(date -u +%FT%TZ)" "$KAFKA_VERSION" >>"$KAFKA_LOG"
	# setsid: its own session, so the broker outlives this script and a
	# Ctrl-C in the terminal that ran `make` does not reach it. setsid does
	# not fork here (a background job of a script is not a group leader), so
	# $! is the JVM's PID; pid_is_ours checks that below.
	# -XX:+ExitOnOutOfMemoryError: die loudly rather than limp on.
	# 9>&-: do not hand infra.sh's lock (fd 9) to the long-lived broker, or
	# every later infra.sh would wait for the broker to exit.
	# -Xlog:cds=off,cds+dynamic=off: a mismatched archive is not worth a
	# warning on every start (the JVM then simply loads classes the slow way).
	# shellcheck disable=SC2086 # the *_OPTS are lists of JVM flags
	setsid java $KAFKA_HEAP_OPTS -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
		"$cds_flag" -Xlog:cds=off -Xlog:cds+dynamic=off $KAFKA_JVM_OPTS \
		-Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
		"-Dlog4j.configuration=file:$KAFKA_SRC/log4j.properties" \
		-cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONFIG" \
		</dev/null >>"$KAFKA_LOG" 2>&1 9>&- &
	pid=$!
	if ! pid_is_ours "$pid" "$KAFKA_CONFIG"; then
		sleep 0.5
		pid_is_ours "$pid" "$KAFKA_CONFIG" || {
			log_tail "$KAFKA_LOG"
			die "kafka: the broker exited right after starting"
		}
	fi
	printf '%s\n' "$pid" >"$(pid_file kafka)"
	kafka_wait_ready "$pid" 120
	log_ok "kafka: ready (pid $pid) on $KAFKA_HOST:$KAFKA_PORT in $(elapsed_since "$t0")"
}

kafka_down() {
	local pid
	if ! pid=$(kafka_running_pid); then
		log_dim "kafka: not running"
		return 0
	fi
	log_info "kafka: stopping (pid $pid)"
	# SIGTERM runs the broker's shutdown hook: a controlled shutdown that
	# flushes and closes the logs, so the next start needs no recovery.
	pid_stop kafka "$pid" 60
	rm -f "$(pid_file kafka)"
	# A broker started with -XX:ArchiveClassesAtExit has just written its
	# class-data archive on the way out; keep it only if it exited normally.
	if [[ -f "$KAFKA_CDS_TMP" ]]; then
		if ((PID_STOP_KILLED == 0)); then
			mkdir -p "$KAFKA_CDS_DIR"
			mv "$KAFKA_CDS_TMP" "$(kafka_cds_archive)"
			log_dim "kafka: class-data archive saved for faster starts"
		else
			rm -f "$KAFKA_CDS_TMP"
		fi
	fi
	log_ok "kafka: stopped"
}

kafka_status() {
	local pid
	if pid=$(kafka_running_pid); then
		printf '%-9s %srunning%s  pid %-7s %s:%s  data %s  log %s\n' kafka \
			"$C_GREEN" "$C_RESET" "$pid" "$KAFKA_HOST" "$KAFKA_PORT" "$(rel "$KAFKA_DATA")" "$(rel "$KAFKA_LOG")"
		return 0
	fi
	printf '%-9s %sstopped%s  %-11s %s:%s  data %s  log %s\n' kafka \
		"$C_RED" "$C_RESET" "" "$KAFKA_HOST" "$KAFKA_PORT" "$(rel "$KAFKA_DATA")" "$(rel "$KAFKA_LOG")"
	return 1
}

kafka_env() {
	printf 'KAFKA_BROKERS=%s:%s\n' "$KAFKA_HOST" "$KAFKA_PORT"
	printf 'KAFKA_VERSION=%s\n' "$KAFKA_VERSION"
}
