/*
 * test_routes.c — the route table (routes.c) and what cs_handle derives
 * from it, the request read once (reqctx.c), and the JSON content type:
 *
 *   which row a path names, wherever the server puts it (REQUEST_URI,
 *   SCRIPT_NAME, SCRIPT_NAME + PATH_INFO) and the raw model id; the
 *   methods of every row and their Allow header (chat_get on and off);
 *   then, through cs_handle over a CGI connection whose stdout is a
 *   socketpair, for every row and method: 405 with that Allow header in
 *   the row's error shape, HEAD answered where GET is (and without a
 *   body), 404 in the native shape or OpenAI's under …/v1, and the JSON
 *   body's Content-Type (RFC 9110: tab or space before the parameters).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "cs.h"
#include "encoder.h"
#include "fcgi_out.h"
#include "handler.h"
#include "reqctx.h"
#include "routes.h"
#include "testutil.h"
#include "worker.h"

/* The row whose documented path is path (NULL: the fallback with this
 * match). */
static const struct cs_route *
row(const char *path, enum cs_match m)
{
	size_t i;

	for (i = 0; i < cs_n_routes; i++)
		if (path != NULL ?
		        cs_routes[i].path != NULL &&
		            strcmp(cs_routes[i].path, path) == 0 :
		        cs_routes[i].path == NULL && cs_routes[i].match == m)
			return &cs_routes[i];
	fail_msg("no row %s", path ? path : "(fallback)");
	return NULL;
}

static void
test_match(void **state)
{
	static const struct {
		const char *pi, *sn, *uri; /* PATH_INFO, SCRIPT_NAME, URI */
		const char *route;         /* documented path, or "v1" /
		                                "404" for the fallbacks */
		const char *param, *path;
	} cases[] = {
		{ NULL, "/api/chat", "/api/chat", "/chat", "", "/api/chat" },
		{ NULL, NULL, "/api/chat/?x=1", "/chat", "", "/api/chat/?x=1" },
		{ NULL, "/cgi-bin/cs.fcgi", "/cgi-bin/cs.fcgi/chat", "/chat",
		    "", "/cgi-bin/cs.fcgi/chat" },
		{ "/chat", "/cgi-bin/cs", NULL, "/chat", "", "/chat" },
		{ NULL, "/api/models", NULL, "/models", "", "/api/models" },
		{ NULL, "/api/info", NULL, "/info", "", "/api/info" },
		{ NULL, "/api/check", NULL, "/check", "", "/api/check" },
		{ NULL, "/api/metrics", NULL, "/metrics", "", "/api/metrics" },
		{ NULL, "/api/admin/usage", NULL, "/admin/usage", "",
		    "/api/admin/usage" },
		{ NULL, "/api/usage", NULL, "404", "", "/api/usage" },
		{ NULL, "/api/openapi.json", NULL, "/openapi.json", "",
		    "/api/openapi.json" },
		{ NULL, "/api/v1/models", NULL, "/v1/models", "",
		    "/api/v1/models" },
		{ NULL, "/api/v1/messages", NULL, "/v1/messages", "",
		    "/api/v1/messages" },
		{ NULL, "/api/v1/models/", NULL, "/v1/models", "",
		    "/api/v1/models/" },
		{ NULL, "/api/v1/chat/completions", NULL,
		    "/v1/chat/completions", "", "/api/v1/chat/completions" },
		{ NULL, NULL, "/api/v1/models/gpt-4o?x", "/v1/models/{model}",
		    "gpt-4o", "/api/v1/models/gpt-4o?x" },
		{ NULL, NULL, "/api/v1/models/org/name/", "/v1/models/{model}",
		    "org/name", "/api/v1/models/org/name/" },
		/* lighttpd splits the path; the id as sent is the URI's. */
		{ "/models", "/api/v1", "/api/v1/models", "/v1/models", "",
		    "/api/v1/models" },
		{ "/v1/models/org/x", "/api", "/api/v1/models/org%2Fx",
		    "/v1/models/{model}", "org%2Fx", "/api/v1/models/org%2Fx" },
		{ "/v1/models/org/x", "/api", NULL, "/v1/models/{model}",
		    "org/x", "/v1/models/org/x" },
		/* Tails: a row matches the last segments, whole. */
		{ NULL, "/api/v1/chat", NULL, "/chat", "", "/api/v1/chat" },
		{ NULL, "/api/xchat", NULL, "404", "", "/api/xchat" },
		{ NULL, "/api/chat/completions", NULL, "404", "",
		    "/api/chat/completions" },
		{ NULL, "/api/xv1/models", NULL, "/models", "",
		    "/api/xv1/models" },
		/* Fallbacks: under a "v1" segment OpenAI's 404, else ours. */
		{ NULL, "/api/v1/nope", NULL, "v1", "", "/api/v1/nope" },
		{ NULL, NULL, "/api/v1", "v1", "", "/api/v1" },
		{ NULL, NULL, "/api/v1/", "v1", "", "/api/v1/" },
		{ NULL, "/api/v1x/nope", NULL, "404", "", "/api/v1x/nope" },
		{ NULL, "/api/nope", "/api/nope?v1", "404", "",
		    "/api/nope?v1" },
		{ NULL, NULL, NULL, "404", "", NULL },
		{ NULL, "", "", "404", "", "" },
	};
	char param[CS_ROUTE_ID_MAX + 1], longid[CS_ROUTE_ID_MAX + 32];
	const struct cs_route *r, *want;
	const char *path;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		r = cs_route_find(
		    cases[i].pi, cases[i].sn, cases[i].uri, &path, param);
		want = strcmp(cases[i].route, "v1") == 0 ?
		    row(NULL, CS_MATCH_SEGMENT) :
		    strcmp(cases[i].route, "404") == 0 ?
		    row(NULL, CS_MATCH_ANY) :
		    row(cases[i].route, 0);
		if (r != want)
			fail_msg("case %zu: routed to %s, want %s", i,
			    r->path        ? r->path :
			        r->pattern ? r->pattern :
			                     "404",
			    cases[i].route);
		if (strcmp(param, cases[i].param) != 0)
			fail_msg("case %zu: param \"%s\", want \"%s\"", i,
			    param, cases[i].param);
		if ((path == NULL) != (cases[i].path == NULL) ||
		    (path != NULL && strcmp(path, cases[i].path) != 0))
			fail_msg("case %zu: path %s, want %s", i,
			    path ? path : "NULL",
			    cases[i].path ? cases[i].path : "NULL");
	}
	/* An id too long to be a model name is "" (model_not_found). */
	memset(longid, 0, sizeof(longid));
	memcpy(longid, "/v1/models/", 11);
	memset(longid + 11, 'a', CS_ROUTE_ID_MAX + 1);
	r = cs_route_find(NULL, NULL, longid, &path, param);
	assert_ptr_equal(r, row("/v1/models/{model}", 0));
	assert_string_equal(param, "");
}

static void
test_methods(void **state)
{
	static const struct {
		const char *route;
		const char *on, *off; /* Allow, chat_get on and off */
	} cases[] = {
		{ "/chat", "GET, HEAD, POST", "POST" },
		{ "/models", "GET, HEAD", "GET, HEAD" },
		{ "/info", "GET, HEAD", "GET, HEAD" },
		{ "/check", "GET, HEAD", "GET, HEAD" },
		{ "/openapi.json", "GET, HEAD", "GET, HEAD" },
		{ "/metrics", "GET, HEAD", "GET, HEAD" },
		{ "/admin/usage", "GET, HEAD", "GET, HEAD" },
		{ "/v1/chat/completions", "POST", "POST" },
		{ "/v1/responses", "POST", "POST" },
		{ "/v1/messages", "POST", "POST" },
		{ "/v1/models", "GET, HEAD", "GET, HEAD" },
		{ "/v1/models/{model}", "GET, HEAD", "GET, HEAD" },
	};
	struct cs_config cfg;
	char allow[32];
	size_t i, documented = 0;

	(void)state;
	cs_config_defaults(&cfg);
	for (i = 0; i < cs_n_routes; i++)
		documented += cs_routes[i].path != NULL;
	assert_int_equal(documented, CS_ARRAY_LEN(cases));
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		cfg.chat_get = 1;
		cs_route_allow(cs_route_allowed(row(cases[i].route, 0), &cfg),
		    allow, sizeof(allow));
		if (strcmp(allow, cases[i].on) != 0)
			fail_msg("%s: Allow %s, want %s", cases[i].route, allow,
			    cases[i].on);
		cfg.chat_get = 0;
		cs_route_allow(cs_route_allowed(row(cases[i].route, 0), &cfg),
		    allow, sizeof(allow));
		if (strcmp(allow, cases[i].off) != 0)
			fail_msg("%s (chat_get = no): Allow %s, want %s",
			    cases[i].route, allow, cases[i].off);
	}
	assert_int_equal(cs_route_method("GET"), CS_M_GET);
	assert_int_equal(cs_route_method("HEAD"), CS_M_HEAD);
	assert_int_equal(cs_route_method("POST"), CS_M_POST);
	assert_int_equal(cs_route_method("post"), CS_M_OTHER);
	assert_int_equal(cs_route_method("PUT"), CS_M_OTHER);
	assert_int_equal(cs_route_method(NULL), CS_M_OTHER);
	/* The fallbacks answer every method. */
	assert_int_equal(
	    cs_route_allowed(row(NULL, CS_MATCH_ANY), &cfg) & CS_M_ANY,
	    CS_M_ANY);
	assert_int_equal(
	    cs_route_allowed(row(NULL, CS_MATCH_SEGMENT), &cfg) & CS_M_ANY,
	    CS_M_ANY);
	cs_config_free(&cfg);
}

/* The parameters cs_handle reads: each case sets some, the rest unset. */
static const char *const vars[] = {
	"REQUEST_METHOD",
	"PATH_INFO",
	"SCRIPT_NAME",
	"REQUEST_URI",
	"QUERY_STRING",
	"CONTENT_TYPE",
	"CONTENT_LENGTH",
	"HTTP_ACCEPT",
	"HTTP_ORIGIN",
	"HTTP_HOST",
	"HTTP_SEC_FETCH_SITE",
	"HTTP_LAST_EVENT_ID",
	"REMOTE_ADDR",
	"REMOTE_USER",
	"SERVER_SOFTWARE",
};

/* cs_handle on a CGI request for method and SCRIPT_NAME path, with
 * Content-Type ct (NULL: none) and no body: the whole response
 * (malloc'd). */
static char *
handle(
    struct cs_config *cfg, const char *method, const char *path, const char *ct)
{
	struct cs_worker w;
	struct cs_conn *conn;
	char *all = NULL, buf[4096];
	size_t len = 0, i;
	int sv[2], saved, saved_err, null;
	ssize_t n;

	for (i = 0; i < CS_ARRAY_LEN(vars); i++)
		unsetenv(vars[i]);
	setenv("REQUEST_METHOD", method, 1);
	setenv("SCRIPT_NAME", path, 1);
	if (ct != NULL)
		setenv("CONTENT_TYPE", ct, 1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(sv[1], STDOUT_FILENO) == STDOUT_FILENO);
	close(sv[1]);
	/* The access lines would drown the TAP output. */
	saved_err = dup(STDERR_FILENO);
	null = open("/dev/null", O_WRONLY);
	assert_true(saved_err >= 0);
	assert_true(null >= 0);
	dup2(null, STDERR_FILENO);
	close(null);
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	conn = cs_conn_new_cgi();
	assert_non_null(conn);
	assert_int_equal(cs_handle(&w, conn, NULL, NULL), 0);
	cs_conn_free(conn);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	while ((n = read(sv[0], buf, sizeof(buf))) > 0) {
		all = realloc(all, len + (size_t)n + 1);
		assert_non_null(all);
		memcpy(all + len, buf, (size_t)n);
		len += (size_t)n;
	}
	close(sv[0]);
	if (all == NULL)
		all = calloc(1, 1);
	all[len] = '\0';
	return all;
}

/* The status of a CGI response ("Status: 405 ..."), or 0. */
static int
status_of(const char *resp)
{
	unsigned long long v;

	if (strncmp(resp, "Status: ", 8) != 0 ||
	    cs_parse_dec(resp + 8, strspn(resp + 8, "0123456789"), 999, &v) !=
	        0)
		return 0;
	return (int)v;
}

/* A header's value (copied into v), or "" if the head has none. */
static const char *
header(const char *resp, const char *name, char *v, size_t len)
{
	const char *end = strstr(resp, "\r\n\r\n"), *p;
	size_t n = strlen(name), k;

	v[0] = '\0';
	for (p = resp; p != NULL && p < end; p = strstr(p, "\r\n")) {
		if (*p == '\r')
			p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1 + (p[n + 1] == ' ');
			k = strcspn(p, "\r");
			snprintf(v, len, "%.*s", (int)k, p);
			break;
		}
	}
	return v;
}

static const char *
body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	return b != NULL ? b + 4 : "";
}

/* Is body an error in OpenAI's shape (with "param" and "code") rather
 * than the native {"error":{"type","message"}}? */
static int
openai_shape(const char *body)
{
	return strstr(body, "\"param\"") != NULL &&
	    strstr(body, "\"code\"") != NULL;
}

/* method on row r (at path) under cfg: 405 and the row's Allow where the
 * row does not take it, in the row's error shape; else answered. */
static void
check_method(struct cs_config *cfg, const struct cs_route *r, const char *path,
    const char *method)
{
	unsigned ok = cs_route_allowed(r, cfg);
	int oai = r->enc->error_body == cs_encoder_openai_error_body;
	int head = strcmp(method, "HEAD") == 0;
	char allow[32], got[64], want[48], *resp;
	int st;

	got[0] = '\0';
	cs_route_allow(ok, allow, sizeof(allow));
	resp = handle(cfg, method, path, NULL);
	st = status_of(resp);
	if (strcmp(method, "OPTIONS") == 0 && r->path != NULL &&
	    strncmp(r->path, "/v1/", 4) == 0) {
		/* The API answers OPTIONS itself (cors.h): 204 with Allow. */
		snprintf(want, sizeof(want), "%s, OPTIONS", allow);
		if (st != 204 ||
		    strcmp(header(resp, "Allow", got, sizeof(got)), want) != 0)
			fail_msg(
			    "OPTIONS %s: status %d, Allow \"%s\", want 204 "
			    "and \"%s\"",
			    path, st, got, want);
	} else if ((ok & cs_route_method(method)) && (st == 405 || st == 0))
		fail_msg("%s %s: status %d", method, path, st);
	else if (!(ok & cs_route_method(method)) && st != 405)
		fail_msg("%s %s: status %d, want 405", method, path, st);
	else if (st == 405 &&
	    strcmp(header(resp, "Allow", got, sizeof(got)), allow) != 0)
		fail_msg("%s %s: Allow \"%s\", want \"%s\"", method, path, got,
		    allow);
	else if (st == 405 && !head && openai_shape(body_of(resp)) != oai)
		fail_msg("%s %s: error shape: %s", method, path, body_of(resp));
	else if (head && *body_of(resp) != '\0')
		fail_msg("HEAD %s: a body", path);
	free(resp);
}

/* Every documented row under every method, chat_get on and off. */
static void
test_handle_methods(void **state)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT",
		"DELETE", "OPTIONS" };
	struct cs_config cfg;
	char err[256], path[64];
	size_t i, m;
	int pass;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	cs_config_defaults(&cfg);
	assert_int_equal(cs_config_resolve(&cfg, err, sizeof(err)), CS_OK);
	cfg.self_check = 0; /* GET /api/check would stream for seconds */
	for (pass = 0; pass < 2; pass++) {
		cfg.chat_get = pass == 0;
		for (i = 0; i < cs_n_routes; i++) {
			if (cs_routes[i].path == NULL)
				continue;
			snprintf(path, sizeof(path), "/api%s",
			    strcmp(cs_routes[i].path, "/v1/models/{model}") ==
			            0 ?
			        "/v1/models/nope" :
			        cs_routes[i].path);
			for (m = 0; m < CS_ARRAY_LEN(methods); m++)
				check_method(
				    &cfg, &cs_routes[i], path, methods[m]);
		}
	}
	cs_config_free(&cfg);
}

/* 404 for an unknown path: OpenAI's shape under a "v1" segment, naming the
 * method and path; the native shape elsewhere.  The 405 for a GET while
 * chat_get is off has its own message. */
static void
test_handle_not_found(void **state)
{
	static const struct {
		const char *method, *path;
		int oai;
	} cases[] = {
		{ "GET", "/api/nope", 0 },
		{ "POST", "/api/chat/completions", 0 },
		{ "DELETE", "/api/v1x", 0 },
		{ "GET", "/api/v1/nope", 1 },
		{ "PUT", "/api/v1", 1 },
		{ "POST", "/api/v1/completions", 1 },
	};
	struct cs_config cfg;
	char err[256], *resp;
	const char *b;
	size_t i;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	cs_config_defaults(&cfg);
	assert_int_equal(cs_config_resolve(&cfg, err, sizeof(err)), CS_OK);
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		resp = handle(&cfg, cases[i].method, cases[i].path, NULL);
		b = body_of(resp);
		if (status_of(resp) != 404 || openai_shape(b) != cases[i].oai ||
		    strstr(b, "\"not_found\"") == NULL)
			fail_msg(
			    "%s %s: %s", cases[i].method, cases[i].path, resp);
		if (cases[i].oai &&
		    (strstr(b, cases[i].method) == NULL ||
		        strstr(b, cases[i].path) == NULL))
			fail_msg("%s %s: not named: %s", cases[i].method,
			    cases[i].path, b);
		free(resp);
	}
	cfg.chat_get = 0;
	resp = handle(&cfg, "GET", "/api/chat", NULL);
	assert_int_equal(status_of(resp), 405);
	assert_non_null(strstr(resp, "GET /api/chat is disabled"));
	free(resp);
	resp = handle(&cfg, "PUT", "/api/chat", NULL);
	assert_int_equal(status_of(resp), 405);
	assert_non_null(strstr(resp, "use POST with a JSON body"));
	free(resp);
	cs_config_free(&cfg);
}

/*
 * The JSON body policy, the same on every row that has it: RFC 9110's
 * media-type, any case, optional whitespace (SP or HTAB) before ";" and
 * parameters, nothing else.  An accepted type with no body goes on to the
 * request checks (400); a refused one is 415.
 */
static void
test_handle_json_type(void **state)
{
	static const struct {
		const char *ct;
		int ok;
	} cases[] = {
		{ "application/json", 1 },
		{ "APPLICATION/Json", 1 },
		{ "application/json;charset=utf-8", 1 },
		{ "application/json ;charset=utf-8", 1 },
		{ "application/json\t;charset=utf-8", 1 },
		{ "application/json \t ; charset=utf-8", 1 },
		{ "application/json\t", 1 },
		{ "application/json x", 0 },
		{ "application/json\tcharset=utf-8", 0 },
		{ "application/json,text/plain", 0 },
		{ "application/jsonx", 0 },
		{ "application/json5", 0 },
		{ "\tapplication/json", 0 },
		{ "text/json", 0 },
		{ "", 0 },
		{ NULL, 0 },
	};
	static const char *const paths[] = { "/api/chat",
		"/api/v1/chat/completions" };
	struct cs_config cfg;
	char err[256], *resp;
	size_t i, p;
	int st;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	cs_config_defaults(&cfg);
	assert_int_equal(cs_config_resolve(&cfg, err, sizeof(err)), CS_OK);
	for (p = 0; p < CS_ARRAY_LEN(paths); p++)
		for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
			resp = handle(&cfg, "POST", paths[p], cases[i].ct);
			st = status_of(resp);
			if (st != (cases[i].ok ? 400 : 415))
				fail_msg("%s, Content-Type \"%s\": %d",
				    paths[p],
				    cases[i].ct ? cases[i].ct : "(none)", st);
			free(resp);
		}
	cs_config_free(&cfg);
}

/* The parameters as read once: the first of a repeated name, the
 * Content-Length strictly, the method's bit. */
static void
test_reqctx(void **state)
{
	static const struct {
		const char *clen;
		long long want;
	} lens[] = {
		{ NULL, -1 },
		{ "", -1 },
		{ "0", 0 },
		{ "42", 42 },
		{ "+1", -2 },
		{ " 1", -2 },
		{ "1x", -2 },
		{ "-1", -2 },
	};
	static char e0[] = "REQUEST_METHOD=POST", e1[] = "NOEQUALS",
	            e2[] = "SCRIPT_NAME=/api/v1/models",
	            e3[] = "HTTP_ACCEPT=text/plain",
	            e4[] = "HTTP_ACCEPT=text/html",
	            e5[] = "QUERY_STRING=", e6[] = "REMOTE_ADDR=10.0.0.1",
	            e7[] = "REQUEST_METHODX=GET";
	char *env[] = { e7, e0, e1, e2, e3, e4, e5, e6, NULL };
	extern char **environ;
	char **saved = environ;
	struct cs_reqctx rq;
	struct cs_conn *conn;
	size_t i;

	(void)state;
	environ = env;
	conn = cs_conn_new_cgi();
	assert_non_null(conn);
	cs_reqctx_init(&rq, conn);
	environ = saved;
	assert_ptr_equal(rq.params, env);
	assert_string_equal(rq.method, "POST");
	assert_int_equal(rq.method_bit, CS_M_POST);
	assert_ptr_equal(rq.route, row("/v1/models", 0));
	assert_string_equal(rq.path, "/api/v1/models");
	assert_string_equal(rq.accept, "text/plain");
	assert_string_equal(rq.query, "");
	assert_string_equal(rq.client, "10.0.0.1");
	assert_null(rq.content_type);
	assert_null(rq.remote_user);
	assert_null(rq.identity);
	assert_int_equal(rq.content_length, -1);
	cs_conn_free(conn);
	for (i = 0; i < CS_ARRAY_LEN(lens); i++) {
		unsetenv("REQUEST_METHOD");
		unsetenv("CONTENT_LENGTH");
		if (lens[i].clen != NULL)
			setenv("CONTENT_LENGTH", lens[i].clen, 1);
		conn = cs_conn_new_cgi();
		assert_non_null(conn);
		cs_reqctx_init(&rq, conn);
		if (rq.content_length != lens[i].want)
			fail_msg("CONTENT_LENGTH \"%s\": %lld, want %lld",
			    lens[i].clen ? lens[i].clen : "(unset)",
			    rq.content_length, lens[i].want);
		assert_string_equal(rq.method, "");
		assert_int_equal(rq.method_bit, CS_M_OTHER);
		cs_conn_free(conn);
	}
	unsetenv("CONTENT_LENGTH");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_reqctx),
		cmocka_unit_test(test_handle_methods),
		cmocka_unit_test(test_handle_not_found),
		cmocka_unit_test(test_handle_json_type),
	};

	return cmocka_run_group_tests_name("routes", tests, NULL, NULL);
}
