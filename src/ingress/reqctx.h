/*
 * reqctx.h — one request's CGI/FastCGI parameters, read once at the top of
 * cs_handle (one pass over the parameters) and handed down, read-only, to
 * whatever serves it: the route, the method, what the body is and what
 * the client accepts, where it comes from and who it is.  Nothing below
 * cs_handle asks the connection for a parameter again; one that is not
 * here is in rq->params (or cs_conn_param(rq->conn, NAME)).
 *
 * Every string is borrowed from the connection's parameters (NULL when the
 * server did not send it) and lives as long as the connection.
 */
#ifndef CS_REQCTX_H
#define CS_REQCTX_H

#include "routes.h"

struct cs_conn;

struct cs_reqctx {
	struct cs_conn *conn;            /* the body, the transport */
	char *const *params;             /* every "NAME=value", NULL-ended: for
	                                  anything not below */
	const char *method;              /* REQUEST_METHOD, "" if none */
	unsigned method_bit;             /* its CS_M_* (routes.h) */
	const struct cs_route *route;    /* never NULL (cs_route_find) */
	const char *path;                /* as sent, to log and echo (may hold
	                                  the query; may be NULL) */
	char param[CS_ROUTE_ID_MAX + 1]; /* the route's raw parameter, or "" */
	const char *query;               /* QUERY_STRING */
	const char *content_type;        /* CONTENT_TYPE */
	long long content_length;        /* CONTENT_LENGTH: -1 if absent, -2 if
	                                  malformed (digits only) */
	const char *accept;              /* HTTP_ACCEPT */
	const char *origin;              /* HTTP_ORIGIN */
	const char *host;                /* HTTP_HOST */
	const char *fetch_site;          /* HTTP_SEC_FETCH_SITE */
	const char
	    *acr_method; /* a preflight's Access-Control-Request-Method */
	const char *acr_headers;     /* ... and -Headers (cors.h) */
	const char *last_event_id;   /* HTTP_LAST_EVENT_ID */
	const char *client;          /* REMOTE_ADDR */
	const char *remote_user;     /* REMOTE_USER: the web server's login */
	const char *identity;        /* who is asking, once an issue decides
	                                  how (an API key, a session): NULL */
	const char *server_software; /* SERVER_SOFTWARE */
	/* Where the path may be (cs_route_find). */
	const char *path_info, *script_name, *request_uri;
};

/* Fill rq from conn's parameters (conn borrowed; rq holds no resources). */
void cs_reqctx_init(struct cs_reqctx *rq, struct cs_conn *conn);

#endif
