/*
 * main.c — start-up and process model.
 *
 *   FastCGI on an inherited socket (fd 0: mod_fcgid, lighttpd bin-path,
 *   spawn-fcgi), FastCGI on --listen ADDR (nginx, mod_proxy_fcgi, systemd),
 *   or plain CGI (one request from the environment, then exit).
 *
 * Up to N (threads) worker threads each take one connection at a time:
 * they read and check its request and answer the short ones (errors,
 * model lists) themselves; a stream (a provider's answer, the demo, the
 * self-check) they hand, with its connection, to an event loop (engine.h:
 * up to `loops` threads, each serving many streams), and go on.  Workers
 * and loops start as needed: one of each at first, so a process that only
 * ever gets one request at a time (mod_fcgid) keeps one of each.  When
 * every worker is busy, one overflow thread answers new requests 503 +
 * Retry-After at once (see overflow()); so does a worker past
 * max_streams.  The main thread waits for SIGTERM/SIGINT, then stops
 * accepting and gives running streams shutdown_grace_seconds.
 *
 * The listen socket may be shared with the process that passed it (systemd
 * socket activation, multiwatch, spawn-fcgi -F): it is never shut down.
 * Workers wait in poll() on it and on a wake-up pipe and accept(), one at
 * a time under accept_lock, and the signal only writes the pipe.  Nothing
 * else happens under the lock: libfcgi's own FCGX_Accept_r would go on to
 * read the first records there, so one peer that connects and stalls
 * would stop every worker.  Instead a new connection whose request has not
 * all arrived waits in the intake (intake.h: one thread, epoll, bytes only
 * peeked at), so a peer that stalls or trickles its body holds no worker;
 * a worker takes it when its request is in.  The socket is then handed to
 * libfcgi as an open connection (listen socket -1, so it can never accept
 * by itself), and reading the request's params and body must finish
 * within request_read_timeout_seconds of the accept: a watchdog thread
 * (deadline.h) shuts the socket for reading at the deadline, which ends
 * libfcgi's blocking read; that connection alone is dropped (or answered
 * 408 if its params had arrived), logged with outcome read_timeout.
 *
 * Each connection carries one request: it is closed after the
 * answer even if the web server asked to keep it (nginx fastcgi_keep_conn),
 * since an idle kept connection would hold descriptors with no deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

#include "admit.h"
#include "config.h"
#include "deadline.h"
#include "engine.h"
#include "fcgi_out.h"
#include "handler.h"
#include "identity.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "tls_ca.h"
#include "version.h"
#include "provider.h"
#include "routes.h"
#include "state.h"
#include "stream.h"
#include "upstream.h"
#include "usage_cli.h"
#include "worker.h"

#define LISTEN_BACKLOG 1024
#define THREAD_STACK   (256 * 1024)
#define ACCEPT_RETRIES \
	10                    /* consecutive accept failures a worker
                                     survives, a second apart */
#define JOIN_MARGIN_MS   5000 /* after the grace period */
#define SETTLE_DRAIN_MS  2000 /* settles still queued at exit */
#define ADDR_MAX         64   /* one FCGI_WEB_SERVER_ADDRS entry */
#define OVERFLOW_READ_MS 1000 /* the overflow thread's read deadline */

static struct cs_config cfg;
static int listen_fd;
static int wake_pipe[2] = { -1, -1 };
static atomic_int stopping;
static atomic_int workers_alive;
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
/* Capacity: workers serving a connection, of nworkers started.  When the
 * count reaches nworkers (or leaves it) a worker writes full_fd (an
 * eventfd): the overflow thread then starts another worker, up to
 * max_workers (threads), and past that answers new connections 503
 * itself.  Only the overflow thread starts workers once it runs. */
static atomic_int busy;
static atomic_int nworkers;
static int max_workers;
static pthread_t *worker_threads;
static pthread_attr_t worker_attr;
static int full_fd = -1;
/* FCGI_WEB_SERVER_ADDRS: the IPv4 peers libfcgi's OS_Accept would allow
 * (comma-separated; unset or empty: any).  We accept, so we check. */
static const char *web_server_addrs;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chatstream [--config FILE] [--listen ADDR] [--threads N]\n"
	    "       chatstream --check-config FILE\n"
	    "       chatstream --list-routes\n"
	    "       chatstream --hash-key < SECRET_FILE\n"
	    "       chatstream usage [--config FILE] [--since 7d] "
	    "[--by day|model|identity|key]\n"
	    "\n"
	    "Streams LLM chat replies as Server-Sent Events over FastCGI.\n"
	    "Started by a web server it uses the socket on fd 0 (mod_fcgid,\n"
	    "lighttpd bin-path, spawn-fcgi) or runs as CGI; with --listen\n"
	    "it serves FastCGI on ADDR (host:port or /path/to/socket).\n"
	    "The config file is FILE, else $CHATSTREAM_CONFIG, else built-in\n"
	    "defaults.  --hash-key reads an access key's secret (one line)\n"
	    "and prints the secret_sha256 line the config takes.  usage\n"
	    "prints who spent what (requests and tokens) from the usage\n"
	    "ledger of the config's state store.\n");
}

/* --threads N: 1..1024, digits only. */
static int
parse_threads(const char *s, int *out)
{
	unsigned long long v;

	if (cs_parse_dec(s, strlen(s), 1025, &v) != 0 || v < 1 || v > 1024)
		return -1;
	*out = (int)v;
	return 0;
}

/*
 * Wait until a connection is pending on the listener (1), one whose
 * request has arrived waits in the intake (2), or shutdown was asked for
 * (0).  Called with accept_lock held, so one thread at a time blocks here.
 */
static int
wait_for_connection(void)
{
	struct pollfd pfd[3];

	pfd[0].fd = listen_fd;
	pfd[1].fd = wake_pipe[0];
	pfd[2].fd = cs_intake_fd(); /* -1 (ignored by poll): no intake */
	pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
	for (;;) {
		pfd[0].revents = pfd[1].revents = pfd[2].revents = 0;
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1; /* let accept report the problem */
		}
		if (pfd[1].revents != 0 || atomic_load(&stopping))
			return 0;
		if (pfd[2].revents != 0)
			return 2;
		if (pfd[0].revents != 0)
			return 1;
	}
}

/* Whether FCGI_WEB_SERVER_ADDRS lets this peer in (as libfcgi does: only
 * IPv4 peers are checked, against each comma-separated entry). */
static int
peer_allowed(const struct sockaddr_storage *sa)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
	const char *p = web_server_addrs;
	char one[ADDR_MAX];
	struct in_addr a;
	size_t n;

	if (sa->ss_family != AF_INET || p == NULL || *p == '\0')
		return 1;
	for (; *p != '\0'; p += n + (p[n] == ',')) {
		p += strspn(p, " \t");
		n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(one))
			continue;
		memcpy(one, p, n);
		one[n] = '\0';
		one[strcspn(one, " \t")] = '\0';
		if (inet_pton(AF_INET, one, &a) == 1 &&
		    a.s_addr == in->sin_addr.s_addr)
			return 1;
	}
	return 0;
}

/*
 * accept() one connection that poll() said is there.  Returns its fd, -3
 * when there was none to take after all (or it went away, or the peer is
 * not allowed), -2 when accept() failed (errno set).
 */
static int
take_connection(void)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int fd, on = 1;

	memset(&sa, 0, sizeof(sa));
	fd = accept4(listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EINTR || errno == EAGAIN ||
		    errno == ECONNABORTED || errno == EPROTO)
			return -3;
		return -2;
	}
	if (!peer_allowed(&sa)) {
		close(fd);
		return -3;
	}
	/* No replies to what we send: Nagle would only delay deltas. */
	if (sa.ss_family == AF_INET || sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	return fd;
}

/*
 * One connection to serve now, from the intake (from_intake) or accepted
 * from the listener; its accept time goes to *t0.  A new connection whose
 * request is still arriving is parked in the intake instead (-3), unless
 * the intake cannot take it.  Returns the fd, -3 when there is none to
 * serve after all, -2 when accept() failed (errno set).
 */
static int
next_connection(int from_intake, long long *t0)
{
	int fd;

	if (from_intake)
		return (fd = cs_intake_take(t0)) >= 0 ? fd : -3;
	if ((fd = take_connection()) < 0)
		return fd;
	*t0 = cs_now_ms();
	if (!cs_intake_ready(fd) && cs_intake_park(fd, *t0) == 0)
		return -3;
	return fd;
}

/*
 * Wait for one connection whose request is in, with accept_lock held:
 * only this is serialised, and none of it waits on a peer.  Returns its
 * fd (accepted at *t0), -1 when shutdown was asked for, -2 when accept()
 * failed (errno set).  Errors that concern only one connection that went
 * away are skipped, as libfcgi does.
 */
static int
accept_connection(long long *t0)
{
	int fd, w;

	for (;;) {
		if ((w = wait_for_connection()) == 0)
			return -1;
		if ((fd = next_connection(w == 2, t0)) == -3)
			continue;
		return fd;
	}
}

/* The one access line of a connection whose params never arrived. */
static void
log_read_timeout(long long t0)
{
	struct cs_access a;

	memset(&a, 0, sizeof(a));
	a.id = "-";
	a.outcome = cs_outcome_name(CS_OUTCOME_READ_TIMEOUT);
	a.ttfd_ms = -1;
	a.duration_ms = (long)(cs_now_ms() - t0);
	a.prompt_tokens = a.completion_tokens = -1;
	a.admit_us = -1;
	/* As the 408 a body timeout gets. */
	a.error = cs_failure(CS_FAIL_BODY_TIMEOUT)->type;
	cs_log_access(&a);
	cs_metrics_request(NULL, &a);
}

/* One accepted connection: the request libfcgi reads from it, and the
 * deadline slot that bounds reading it and every write of its answer.
 * A worker owns it, or the loop its stream went to. */
struct job {
	FCGX_Request req;
	struct cs_deadline dl;
	struct cs_conn *conn;
	int fd; /* ours while libfcgi reads; then libfcgi's own */
};

/*
 * The answer is out: finish the request and close the connection.  One
 * request per connection (see the top of this file).  Finishing writes
 * the last records: the write timeout still bounds it.  On a lost
 * connection (a client that left or stopped reading) they cannot go out:
 * it is shut down first, so that write fails at once instead of waiting
 * for room that will not come (on a loop it would hold every stream).
 */
static void
finish_job(void *arg, int lost)
{
	struct job *j = arg;

	if (lost)
		shutdown(j->fd, SHUT_RDWR);
	cs_deadline_disarm(&j->dl);
	cs_conn_free(j->conn);
	/* Kept, libfcgi leaves the descriptor open (unless the connection
	 * failed: then it closes it and says so with -1), so that it is
	 * closed only after the watchdog lets go of it. */
	j->req.keepConnection = 1;
	cs_deadline_write_begin(&j->dl);
	FCGX_Finish_r(&j->req);
	cs_deadline_write_end(&j->dl);
	cs_deadline_unwatch(&j->dl);
	if (j->req.ipcFd >= 0)
		close(j->req.ipcFd);
	free(j);
}

/*
 * The params are in: libfcgi now closes its descriptor only when
 * finish_job lets it, so the duplicate kept for the read phase goes and
 * the deadline moves to libfcgi's descriptor (the same socket) as it is:
 * if it already fired, reading the body must still end as a timeout, not
 * as a lost client.  A stream then holds two descriptors, its connection
 * and its provider socket.
 */
static void
drop_duplicate(struct job *j)
{
	cs_deadline_move(&j->dl, j->req.ipcFd);
	close(j->fd);
	j->fd = j->req.ipcFd;
}

/*
 * Serve the request on accepted connection fd, then close it (or hand
 * both to the loop its stream goes to, which does).  While libfcgi reads
 * the params it has a duplicate of fd: with listen_sock -1 and
 * keepConnection set, FCGX_Accept_r keeps that open connection and reads
 * the request from it; if that fails it closes it (fd stays ours for the
 * watchdog to act on) and its accept on -1 fails at once, so < 0 means
 * "this connection failed", never "the listener failed".  Once the params
 * are in, drop_duplicate leaves libfcgi's alone.
 */
static void
serve_connection(struct cs_worker *w, int fd, long long t0)
{
	struct job *j;
	long long read_ms;
	int handed = 0;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		cs_warn("worker: out of memory for a connection");
		close(fd);
		return;
	}
	j->fd = fd;
	FCGX_InitRequest(&j->req, -1, 0);
	if ((j->req.ipcFd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		cs_warn("worker: dup");
		goto out;
	}
	j->req.keepConnection = 1;
	/* The deadline counts from the accept: time in the intake counts. */
	read_ms = cfg.request_read_timeout_ms - (cs_now_ms() - t0);
	if (read_ms < 0)
		read_ms = 0;
	if (w->overloaded && read_ms > OVERFLOW_READ_MS)
		read_ms = OVERFLOW_READ_MS;
	cs_deadline_arm(&j->dl, fd, (long)read_ms);
	if (FCGX_Accept_r(&j->req) < 0) {
		/* Timed out, or the peer closed or sent garbage (silent, as
		 * libfcgi's own accept loop is). */
		if (cs_deadline_disarm(&j->dl))
			log_read_timeout(t0);
		FCGX_Free(&j->req, 1);
		goto out;
	}
	drop_duplicate(j);
	/*
	 * A worker counts as busy from the moment its request's params are
	 * in: one still reading a stalled peer is not serving anybody, and
	 * answering 503 because of such peers would let them turn every
	 * visitor away instead of delaying one round.
	 */
	if (!w->overloaded &&
	    atomic_fetch_add(&busy, 1) + 1 == atomic_load(&nworkers))
		(void)eventfd_write(full_fd, 1); /* now full */
	/* From here every write of the answer is bounded (deadline.h). */
	cs_deadline_watch(&j->dl, cfg.write_timeout_ms);
	if ((j->conn = cs_conn_new_fcgi(&j->req)) != NULL) {
		cs_conn_set_deadline(j->conn, &j->dl);
		handed = cs_handle(w, j->conn, finish_job, j);
	}
	/*
	 * Free from here on: the peer may send its next request the moment
	 * the end-of-request record reaches it, and must find this worker
	 * about to accept, not a reason to start another (a web server that
	 * sends one request at a time keeps one worker).  A stream handed to
	 * a loop holds no worker.
	 */
	if (!w->overloaded &&
	    atomic_fetch_sub(&busy, 1) == atomic_load(&nworkers))
		(void)eventfd_write(full_fd, 1); /* no longer full */
	if (!handed)
		finish_job(j, 0);
	return;
out:
	close(fd);
	free(j);
}

static void *
worker(void *arg)
{
	struct cs_worker w;
	char err[256];
	long long t0;
	int fd, failures = 0;

	(void)arg;
	memset(&w, 0, sizeof(w));
	w.cfg = &cfg;
	w.hand_off = 1;
	pthread_setname_np(pthread_self(), "cs-worker");
	cs_c_locale_for_thread();
	/* The store now, not in a visitor's first chat (a SQLite open with
	 * its schema check takes milliseconds); failing here, admission
	 * opens it at a chat and says why. */
	if (cfg.counted || cfg.routed)
		cs_state_open(cfg.state, &w.state, err, sizeof(err));
	while (!atomic_load(&stopping)) {
		pthread_mutex_lock(&accept_lock);
		fd = accept_connection(&t0);
		pthread_mutex_unlock(&accept_lock);
		if (fd < 0) {
			if (fd == -1 || atomic_load(&stopping))
				break;
			if (++failures > ACCEPT_RETRIES) {
				cs_warnx("worker: accept keeps failing; "
				         "giving up");
				break;
			}
			cs_warn("worker: accept failed");
			poll(NULL, 0, 1000);
			continue;
		}
		failures = 0;
		serve_connection(&w, fd, t0);
	}
	cs_state_close(w.state);
	/* The last worker to die unasked wakes main, which exits non-zero
	 * so a supervisor can restart the process. */
	if (atomic_fetch_sub(&workers_alive, 1) == 1 && !atomic_load(&stopping))
		kill(getpid(), SIGUSR1);
	return NULL;
}

/* Start one more worker thread, if threads allows.  0, or -1. */
static int
spawn_worker(void)
{
	int n = atomic_load(&nworkers);

	if (n >= max_workers)
		return -1;
	atomic_fetch_add(&workers_alive, 1);
	if ((errno = pthread_create(
	         &worker_threads[n], &worker_attr, worker, NULL)) != 0) {
		atomic_fetch_sub(&workers_alive, 1);
		return -1;
	}
	atomic_store(&nworkers, n + 1);
	return 0;
}

/* Is every started worker serving a request? */
static int
all_busy(void)
{
	return atomic_load(&busy) >= atomic_load(&nworkers);
}

/* Is a connection still waiting on the listener or in the intake (pfd:
 * those two), with nobody free?  A worker that has just come free may
 * have taken it. */
static int
still_waiting(struct pollfd *pfd)
{
	pfd[0].revents = pfd[1].revents = 0;
	return poll(pfd, 2, 0) > 0 && all_busy();
}

/*
 * The overflow thread: while every worker is busy and a connection is
 * waiting it starts another worker, until there are `threads' (so a
 * process that serves one request at a time, as under mod_fcgid, keeps
 * one).  Past that it takes accept_lock (free then: an idle worker would
 * be holding it in poll) and answers each new connection itself with 503
 * and Retry-After (handler.h), so a visitor
 * past capacity hears so at once instead of waiting in the listen queue
 * for the web server's timeout.  It lets go of the lock the moment a
 * worker is free again (full_fd).  Reading such a request has a short
 * deadline (OVERFLOW_READ_MS): a peer that stalls delays the next 503 by
 * that at most, never a worker.
 */
static void *
overflow(void *arg)
{
	struct cs_worker w;
	struct pollfd pfd[4];
	eventfd_t v;
	long long t0;
	int fd, full, grow, held, n, i, timeout;

	(void)arg;
	memset(&w, 0, sizeof(w));
	w.cfg = &cfg;
	w.overloaded = 1;
	pthread_setname_np(pthread_self(), "cs-overflow");
	cs_c_locale_for_thread();
	while (!atomic_load(&stopping)) {
		full = all_busy();
		grow = full && atomic_load(&nworkers) < max_workers;
		held = full && !grow &&
		    pthread_mutex_trylock(&accept_lock) == 0;
		pfd[0].fd = wake_pipe[0];
		pfd[1].fd = full_fd;
		pfd[2].fd = listen_fd;
		pfd[3].fd = cs_intake_fd();
		for (i = 0; i < 4; i++) {
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		n = held || grow ? 4 : 2;
		/* Full but the lock was taken: a worker is on its way to
		 * accept; look again shortly.  Not full: only an edge on
		 * full_fd matters, but look now and then all the same. */
		timeout = held || grow ? -1 : full ? 10 : 1000;
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			if (held)
				pthread_mutex_unlock(&accept_lock);
			cs_warn("overflow: poll");
			break;
		}
		if (pfd[1].revents != 0)
			(void)eventfd_read(full_fd, &v);
		if (pfd[0].revents != 0) {
			if (held)
				pthread_mutex_unlock(&accept_lock);
			break;
		}
		if (grow) {
			/* A connection waits and nobody is free: one more
			 * worker takes it (no lock here: nobody accepts). */
			if ((pfd[2].revents != 0 || pfd[3].revents != 0) &&
			    still_waiting(&pfd[2]) && spawn_worker() != 0) {
				cs_warn("cannot start worker %d of %d; serving "
				        "with %d",
				    atomic_load(&nworkers) + 1, max_workers,
				    atomic_load(&nworkers));
				max_workers = atomic_load(&nworkers);
			}
			continue;
		}
		fd = -3;
		if (held && (pfd[2].revents != 0 || pfd[3].revents != 0) &&
		    !atomic_load(&stopping) && all_busy())
			fd = next_connection(pfd[3].revents != 0, &t0);
		if (held)
			pthread_mutex_unlock(&accept_lock);
		if (fd >= 0)
			serve_connection(&w, fd, t0);
		else if (fd == -2) {
			cs_warn("overflow: accept failed");
			poll(NULL, 0, 1000);
		}
	}
	return NULL;
}

/* Join every worker, but give up after the grace period plus a margin:
 * a worker blocked in accept() on a shared socket may never return. */
static int
join_workers(pthread_t *threads, int n)
{
	struct timespec until;
	int i, left = 0;
	long long ms = cfg.shutdown_grace_ms + JOIN_MARGIN_MS;

	cs_realtime_in(&until, ms);
	for (i = 0; i < n; i++)
		if (pthread_timedjoin_np(threads[i], NULL, &until) != 0)
			left++;
	return left;
}

static int
run_cgi(void)
{
	struct cs_worker w;
	struct cs_conn *conn;

	if (getenv("REQUEST_METHOD") == NULL) {
		fprintf(stderr,
		    "chatstream: not started by a web server "
		    "(no FastCGI socket on fd 0, no CGI environment)\n");
		usage(stderr);
		return 2;
	}
	memset(&w, 0, sizeof(w));
	w.cfg = &cfg;
	if ((conn = cs_conn_new_cgi()) == NULL) {
		cs_warnx("out of memory");
		return 1;
	}
	cs_handle(&w, conn, NULL, NULL);
	cs_state_close(w.state);
	cs_conn_free(conn);
	return 0;
}

/* --check-config: what the file amounts to, with no secrets. */
static void
print_check(const char *path)
{
	const struct cs_model_cfg *def = cs_config_model(&cfg, NULL), *m;
	char chain[2048];
	size_t i;

	printf("%s: ok (provider %s, %zu model(s), default %s, key from "
	       "%s)\n",
	    path ? path : "(defaults)", def->up->provider_eff->name,
	    cfg.n_models, def->name, def->up->key_source);
	for (i = 0; i < cfg.n_models; i++) {
		m = &cfg.models[i];
		printf("  model %s: upstream %s (%s, key from %s), sends "
		       "model %s",
		    m->name, m->up->name, m->up->provider_eff->name,
		    m->up->key_source, cs_model_wire_name(m));
		if (m->max_tokens > 0)
			printf(", max_tokens <= %ld", m->max_tokens);
		printf(", instructions %s\n",
		    cs_model_client_instructions(&cfg, m) ? "open" : "fixed");
		if (m->route.n > 1 || m->route.allowed_fails > 0) {
			cs_route_describe(m, chain, sizeof(chain));
			printf("    chain: %s\n", chain);
		}
	}
	for (i = 0; i < cfg.n_upstreams; i++)
		if (cfg.upstreams[i].provider_eff->source == NULL) {
			cs_ca_describe(&cfg.upstreams[i], chain, sizeof(chain));
			printf("  upstream %s: TLS trust %s\n",
			    cfg.upstreams[i].name, chain);
		}
}

/*
 * The admission store, when admission is on: --check-config says where
 * it is and whether it can be written, and fails when it cannot; at
 * start an unusable store is an error under state_fail = closed (every
 * chat would be refused) and a warning under open.  0, or -1.
 */
/* state = memory under several processes: each counts alone. */
#define MEMORY_WARNING \
	"state = memory counts in this process only: under mod_fcgid, " \
	"lighttpd max-procs or several instances every process applies " \
	"the limits alone (use sqlite:PATH or redis://)"

static int
check_state(int check_only)
{
	struct cs_state *st = NULL;
	char msg[768];
	enum cs_err r;

	if (!cfg.admission && check_only)
		printf("  admission: off (no limit, no [key], "
		       "api_v1_auth = open)\n");
	else if (!cfg.counted && check_only)
		printf("  admission: /api/v1 needs an access key "
		       "(api_v1_auth = key) and none is configured, so "
		       "/api/v1 chats get 401; no limit is set, so "
		       "nothing is counted%s\n",
		    cfg.routed ? "" : " and no store is opened");
	if (!cfg.counted && !cfg.routed)
		return 0;
	r = cs_state_check(cfg.state, msg, sizeof(msg));
	if (check_only && !cfg.counted)
		printf("  state (cooldowns, open streams of the chains): %s\n",
		    msg);
	else if (check_only)
		printf("  admission: on, client_id %s, state_fail %s\n"
		       "  limits per identity (0 = none): %ld requests a "
		       "minute, %ld streams at once, %lld tokens a day; site: "
		       "%lld tokens a day\n"
		       "  state: %s\n",
		    cfg.client_id, cfg.state_fail, cfg.lim.rpm,
		    cfg.lim.concurrent, cfg.lim.tokens_per_day,
		    cfg.global_tokens_per_day, msg);
	if (strcmp(cfg.state, "memory") == 0) {
		if (check_only)
			printf("  warning: %s\n", MEMORY_WARNING);
		else
			cs_warnx("state: %s", MEMORY_WARNING);
	}
	/* At start the store is made (its tables too), so what the check
	 * promised holds and `chatstream usage` reads a fresh install. */
	if (r == CS_OK && !check_only &&
	    (r = cs_state_open(cfg.state, &st, msg, sizeof(msg))) == CS_OK)
		cs_state_close(st);
	if (r == CS_OK)
		return 0;
	if (!cfg.counted) { /* routing alone does without it */
		cs_warnx("state: %s (routing goes on without cooldowns or "
		         "open-stream counts)",
		    msg);
		return 0;
	}
	if (!check_only && cfg.state_fail_open) {
		cs_warnx("state: %s (state_fail = open: requests are served "
		         "without limits while it is unusable)",
		    msg);
		return 0;
	}
	fprintf(stderr, "chatstream: state: %s\n", msg);
	return -1;
}

/*
 * Every stream holds descriptors (its FastCGI connection, its provider
 * socket): raise the soft RLIMIT_NOFILE to the hard limit so a 1024
 * default does not cap the streams a process can serve.  Descriptors
 * above FD_SETSIZE are safe here: chatstream and libcurl wait with poll(),
 * and the libfcgi calls used (FCGX_Accept_r only on a connection accepted
 * here, so never its accept path; no async I/O) never put a connection in
 * an fd_set.  Silent unless it fails.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		cs_warn("getrlimit(RLIMIT_NOFILE)");
		return;
	}
	if (rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		cs_warn("cannot raise the open-file limit to %llu",
		    (unsigned long long)rl.rlim_max);
}

/* The open-file limit now (1024 if unknown). */
static rlim_t
nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1024;
	return rl.rlim_cur;
}

/* max_streams = 0: half the descriptors (each stream holds its
 * connection and a provider socket), less a margin for the listener, the
 * connections being read and libcurl's spares. */
static int
default_max_streams(void)
{
	rlim_t n = nofile();

	n = n > 128 ? (n - 64) / 2 : 16;
	return n > 1000000 ? 1000000 : (int)n;
}

/* loops = 0: one per CPU this process may run on. */
static int
default_loops(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 &&
	    (n = CPU_COUNT(&set)) > 0)
		return n > 256 ? 256 : n;
	return 1;
}

/* Connections the intake may hold: half the descriptors (each also has a
 * worker's duplicate and a provider socket once served), within bounds. */
static size_t
intake_room(void)
{
	rlim_t n = nofile() / 2;

	return n < 64 ? 64 : n > 65536 ? 65536 : (size_t)n;
}

static int
load_config(const char *path, int check_only)
{
	char err[1024];

	cs_config_defaults(&cfg);
	if ((path != NULL &&
	        cs_config_load(&cfg, path, err, sizeof(err)) != CS_OK) ||
	    cs_config_default_state(&cfg, path, err, sizeof(err)) != CS_OK) {
		fprintf(stderr, "chatstream: %s\n", err);
		return -1;
	}
	if (cs_config_resolve(&cfg, err, sizeof(err)) != CS_OK) {
		fprintf(stderr, "chatstream: %s%s%s\n", path ? path : "",
		    path ? ": " : "", err);
		return -1;
	}
	if (check_only) {
		print_check(path);
		if (strcmp(cfg.metrics, "off") == 0)
			printf("  metrics: off\n");
		else
			printf("  metrics: %s, GET /api/metrics, shared by the "
			       "pool through %s\n",
			    cfg.metrics,
			    cfg.metrics_file[0] != '\0' ?
			        cfg.metrics_file :
			        "nothing (no metrics_file: each process alone)");
		printf("  admin: %s\n",
		    strcmp(cfg.admin, "key") == 0 ?
		        "key, GET /api/admin/usage for www/admin/" :
		        "off");
	}
	return check_state(check_only);
}

int
main(int argc, char *argv[])
{
	const char *config_path = getenv("CHATSTREAM_CONFIG");
	const char *listen_addr = NULL;
	sigset_t sigs;
	int i, sig, nthreads = 0, threads_opt = 0, rc = 1;
	int overflow_started = 0;
	pthread_t overflow_thread;
	int check_only = 0;
	const struct cs_upstream_cfg *u;
	size_t ui;

	/* A command of its own (usage_cli.h): nothing below is started. */
	if (argc >= 2 && strcmp(argv[1], "usage") == 0)
		return cs_usage_main(argc - 2, argv + 2, stdout, stderr);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check-config") == 0 && i + 1 < argc) {
			config_path = argv[++i];
			check_only = 1;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen_addr = argv[++i];
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			if (parse_threads(argv[++i], &threads_opt) != 0) {
				fprintf(stderr,
				    "chatstream: --threads: "
				    "expected 1..1024\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--list-routes") == 0) {
			/* What docs/openapi.json must document (routes.h). */
			cs_routes_print(stdout);
			return 0;
		} else if (strcmp(argv[i], "--hash-key") == 0) {
			return cs_hash_key_main(stdin, stdout, stderr);
		} else if (strcmp(argv[i], "--version") == 0) {
			cs_version_print(stdout);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (config_path != NULL && *config_path == '\0')
		config_path = NULL;
	if (load_config(config_path, check_only) != 0)
		return 1;
	if (check_only) {
		rc = 0;
		goto out;
	}
	nthreads = threads_opt > 0 ? threads_opt : cfg.threads;
	if (listen_addr == NULL && cfg.listen[0] != '\0')
		listen_addr = cfg.listen;
	if (listen_addr != NULL && listen_addr[0] == ':') {
		/* libfcgi would bind every interface: make that explicit. */
		fprintf(stderr,
		    "chatstream: --listen %s would listen on all "
		    "interfaces; write 127.0.0.1%s (or 0.0.0.0%s if you mean "
		    "it)\n",
		    listen_addr, listen_addr, listen_addr);
		rc = 2;
		goto out;
	}

	/* A dead client must surface as a write error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cs_warnx("curl_global_init failed");
		goto out;
	}
	if (FCGX_Init() != 0) {
		cs_warnx("FCGX_Init failed");
		goto out_curl;
	}
	/* Before any thread; CGI requests count too.  Never unmapped: a
	 * thread that outlives shutdown may still count. */
	if (cs_metrics_open(&cfg) != CS_OK) {
		cs_warnx("out of memory for the metrics");
		goto out_curl;
	}
	if (listen_addr != NULL) {
		if ((listen_fd = FCGX_OpenSocket(listen_addr, LISTEN_BACKLOG)) <
		    0) {
			cs_warn("cannot listen on %s", listen_addr);
			goto out_curl;
		}
	} else if (FCGX_IsCGI()) {
		rc = run_cgi();
		goto out_curl;
	} else
		listen_fd = 0;
	web_server_addrs = getenv("FCGI_WEB_SERVER_ADDRS");
	for (ui = 0; ui < cfg.n_upstreams; ui++) {
		u = &cfg.upstreams[ui];
		/* A local provider: only the demo is one. */
		if (cfg.n_upstreams == 1 && u->provider_eff->source != NULL)
			cs_warnx("no API key configured: serving the built-in "
			         "demo provider");
		else
			/* Not the URL: it may carry credentials. */
			cs_warnx("upstream %s: provider %s, key from %s",
			    u->name, u->provider_eff->name, u->key_source);
	}

	/* Workers inherit a mask that leaves these to sigwait() below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	raise_nofile();
	if ((worker_threads = calloc(
	         (size_t)nthreads, sizeof(*worker_threads))) == NULL ||
	    pipe2(wake_pipe, O_CLOEXEC) != 0 ||
	    (full_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		goto out_curl;
	max_workers = nthreads;
	if (cfg.max_streams == 0)
		cfg.max_streams = default_max_streams();
	if (cfg.loops == 0)
		cfg.loops = default_loops();
	/* Before the loops: they hand finished streams to it. */
	if ((cfg.admission || cfg.routed) && cs_admit_start(&cfg) != 0)
		cs_warnx("admission: no settle thread: reservations of "
		         "streams expire instead of being settled");
	if (cs_engine_start(cfg.loops) != 0) {
		cs_warn("cannot set up the event loops");
		goto out_curl;
	}
	if (cs_watchdog_start() != 0) {
		cs_warn("cannot start the request-read watchdog");
		goto out_curl;
	}
	/* Without it, a worker waits for its request itself, as before. */
	if (cs_intake_start(cfg.request_read_timeout_ms, intake_room()) != 0)
		cs_warn("cannot start the intake; requests still arriving "
		        "will hold a worker");
	/* Workers start as they are needed (see overflow()): the first
	 * now, the others when a connection finds every one busy. */
	pthread_attr_init(&worker_attr);
	pthread_attr_setstacksize(&worker_attr, THREAD_STACK);
	if (spawn_worker() != 0) {
		cs_warn("pthread_create");
		goto out_curl;
	}
	if ((errno = pthread_create(
	         &overflow_thread, &worker_attr, overflow, NULL)) != 0)
		cs_warn("cannot start the overflow thread (one worker, no 503 "
		        "past capacity)");
	else
		overflow_started = 1;
	cs_warnx("ready: %d worker thread(s) and %d event loop(s) at most, "
	         "started as needed, %d streams at most, pid %d, %s",
	    max_workers, cfg.loops, cfg.max_streams, (int)getpid(),
	    listen_addr ? listen_addr : "socket on fd 0");

	do {
		if (sigwait(&sigs, &sig) != 0)
			sig = SIGTERM;
	} while (sig == SIGHUP || /* no reload: config is read-only */
	    (sig == SIGUSR1 && atomic_load(&workers_alive) > 0));
	if (sig == SIGUSR1) {
		cs_warnx("every worker thread failed; exiting");
		rc = 1;
		goto out_curl;
	}

	/* Stop accepting; running streams get the grace period. */
	cs_warnx(
	    "signal %d: stopping (grace %ld ms)", sig, cfg.shutdown_grace_ms);
	cs_stream_set_shutdown_deadline(cs_now_ms() + cfg.shutdown_grace_ms);
	cs_engine_poke();
	atomic_store(&stopping, 1);
	if (write(wake_pipe[1], "x", 1) != 1)
		cs_warn("wake-up pipe");
	/* A socket we made is ours alone: refuse new connections at once
	 * instead of letting them queue until exit. */
	if (listen_addr != NULL)
		shutdown(listen_fd, SHUT_RDWR);
	/* The overflow thread first: it is the one that starts workers. */
	if (overflow_started && join_workers(&overflow_thread, 1) > 0)
		cs_warnx("the overflow thread did not stop; exiting anyway");
	if ((i = join_workers(worker_threads, atomic_load(&nworkers))) > 0)
		cs_warnx("%d worker(s) did not stop; exiting anyway", i);
	if ((i = cs_engine_stop(
	         cs_stream_shutdown_deadline() + JOIN_MARGIN_MS)) > 0)
		cs_warnx("%d stream(s) did not end; exiting anyway", i);
	cs_admit_stop(SETTLE_DRAIN_MS);
	rc = 0;
	pthread_attr_destroy(&worker_attr);
out_curl:
	cs_intake_stop();
	cs_watchdog_stop();
	curl_global_cleanup();
out:
	free(worker_threads);
	cs_config_free(&cfg);
	return rc;
}
